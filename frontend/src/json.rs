//! JSON into the shared types: the browser's own parser reads the text, and this
//! serde `Deserializer` walks the parsed value for the types' derives, which stay the
//! one definition of the wire; for what the page remembers, a `Serializer` builds the
//! value the browser's `JSON.stringify` writes. Their error says only that the JSON did
//! not fit: the page never shows serde's message, and leaving it out keeps serde's error
//! formatting (and the float printing it reaches) out of the wasm.

use std::fmt;

use js_sys::{Array, JSON, Object};
use serde::{
    Serialize,
    de::{
        self, DeserializeOwned, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor,
    },
    ser::{self, Impossible},
};
use wasm_bindgen::{JsCast, JsValue};

/// The JSON was malformed, or did not have the shape the type asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the JSON does not fit the type")
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Self
    }
}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Self
    }
}

/// Parses `text` as JSON into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, Error> {
    let value = JSON::parse(text).map_err(|_| Error)?;
    T::deserialize(Value(value))
}

/// Writes `value` as JSON text.
pub fn to_string<T: Serialize>(value: &T) -> Option<String> {
    let value = value.serialize(Writer).ok()?;
    JSON::stringify(&value).ok().map(String::from)
}

/// One parsed JSON value.
struct Value(JsValue);

impl Value {
    fn integer(&self) -> Result<f64, Error> {
        match self.0.as_f64() {
            Some(n) if n.fract() == 0.0 => Ok(n),
            _ => Err(Error),
        }
    }

    fn string(self) -> Result<String, Error> {
        self.0.as_string().ok_or(Error)
    }

    fn seq(self) -> Result<Seq, Error> {
        if Array::is_array(&self.0) {
            let array = Array::from(&self.0);
            Ok(Seq {
                len: array.length(),
                array,
                index: 0,
            })
        } else {
            Err(Error)
        }
    }

    fn map(self) -> Result<Map, Error> {
        if self.0.is_object() && !Array::is_array(&self.0) {
            let entries = Object::entries(self.0.unchecked_ref());
            Ok(Map {
                entries: Seq {
                    len: entries.length(),
                    array: entries,
                    index: 0,
                },
                value: None,
            })
        } else {
            Err(Error)
        }
    }
}

macro_rules! integers {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let n = self.integer()?;
            if n < 0.0 {
                visitor.visit_i64(n as i64)
            } else {
                visitor.visit_u64(n as u64)
            }
        }
    )*};
}

macro_rules! strings {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.visit_string(self.string()?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Value {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let value = &self.0;
        if value.is_null() || value.is_undefined() {
            visitor.visit_unit()
        } else if let Some(b) = value.as_bool() {
            visitor.visit_bool(b)
        } else if let Some(n) = value.as_f64() {
            if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
                visitor.visit_i64(n as i64)
            } else {
                visitor.visit_f64(n)
            }
        } else if value.is_string() {
            visitor.visit_string(self.string()?)
        } else if Array::is_array(value) {
            visitor.visit_seq(self.seq()?)
        } else {
            visitor.visit_map(self.map()?)
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_bool(self.0.as_bool().ok_or(Error)?)
    }

    integers!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_f64(self.0.as_f64().ok_or(Error)?)
    }

    strings!(deserialize_char deserialize_str deserialize_string deserialize_identifier);

    fn deserialize_bytes<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(Error)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
        Err(Error)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.0.is_null() || self.0.is_undefined() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.0.is_null() {
            visitor.visit_unit()
        } else {
            Err(Error)
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_seq(self.seq()?)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_map(self.map()?)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    /// Only unit variants cross the wire, each as its name.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_enum(self.string()?.into_deserializer())
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

/// An array's items, or an object's `[key, value]` entries.
struct Seq {
    array: Array,
    index: u32,
    len: u32,
}

impl Seq {
    fn next(&mut self) -> Option<JsValue> {
        (self.index < self.len).then(|| {
            self.index += 1;
            self.array.get(self.index - 1)
        })
    }
}

impl<'de> SeqAccess<'de> for Seq {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.next()
            .map(|item| seed.deserialize(Value(item)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some((self.len - self.index) as usize)
    }
}

struct Map {
    entries: Seq,
    value: Option<JsValue>,
}

impl<'de> MapAccess<'de> for Map {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        let entry: Array = entry.unchecked_into();
        self.value = Some(entry.get(1));
        seed.deserialize(Value(entry.get(0))).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(Value(self.value.take().ok_or(Error)?))
    }
}

/// Builds the value `JSON.stringify` writes: objects, arrays, strings, numbers, booleans
/// and null, which is all the page ever stores.
struct Writer;

macro_rules! numbers {
    ($($method:ident: $type:ty)*) => {$(
        fn $method(self, v: $type) -> Result<JsValue, Error> {
            Ok(JsValue::from_f64(v as f64))
        }
    )*};
}

impl ser::Serializer for Writer {
    type Ok = JsValue;
    type Error = Error;
    type SerializeSeq = ArrayWriter;
    type SerializeTuple = Impossible<JsValue, Error>;
    type SerializeTupleStruct = Impossible<JsValue, Error>;
    type SerializeTupleVariant = Impossible<JsValue, Error>;
    type SerializeMap = Impossible<JsValue, Error>;
    type SerializeStruct = ObjectWriter;
    type SerializeStructVariant = Impossible<JsValue, Error>;

    fn serialize_bool(self, v: bool) -> Result<JsValue, Error> {
        Ok(JsValue::from_bool(v))
    }

    numbers!(serialize_i8: i8 serialize_i16: i16 serialize_i32: i32 serialize_i64: i64
        serialize_u8: u8 serialize_u16: u16 serialize_u32: u32 serialize_u64: u64
        serialize_f32: f32 serialize_f64: f64);

    fn serialize_char(self, v: char) -> Result<JsValue, Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<JsValue, Error> {
        Ok(JsValue::from_str(v))
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<JsValue, Error> {
        Err(Error)
    }

    fn serialize_none(self) -> Result<JsValue, Error> {
        Ok(JsValue::NULL)
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<JsValue, Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<JsValue, Error> {
        Ok(JsValue::NULL)
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<JsValue, Error> {
        Ok(JsValue::NULL)
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<JsValue, Error> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<JsValue, Error> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<JsValue, Error> {
        Err(Error)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<ArrayWriter, Error> {
        Ok(ArrayWriter(Array::new()))
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Error> {
        Err(Error)
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(Error)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(Error)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(Error)
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<ObjectWriter, Error> {
        Ok(ObjectWriter(Object::new()))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(Error)
    }
}

struct ArrayWriter(Array);

impl ser::SerializeSeq for ArrayWriter {
    type Ok = JsValue;
    type Error = Error;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Error> {
        self.0.push(&value.serialize(Writer)?);
        Ok(())
    }

    fn end(self) -> Result<JsValue, Error> {
        Ok(self.0.into())
    }
}

struct ObjectWriter(Object);

impl ser::SerializeStruct for ObjectWriter {
    type Ok = JsValue;
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let value = value.serialize(Writer)?;
        js_sys::Reflect::set(&self.0, &JsValue::from_str(key), &value).map_err(|_| Error)?;
        Ok(())
    }

    fn end(self) -> Result<JsValue, Error> {
        Ok(self.0.into())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokenbridge_shared::{
        ApiError, ConnectionStatus, ConnectionSummary, ConnectionView, Disconnected, ErrorCode,
        ExchangeLog, FlowOutcome, LogEntry, LogField, LogStep, ProviderKind, ProviderView,
        Revocation, SessionView, TokenView,
    };
    use wasm_bindgen_test::*;

    use super::*;
    use crate::components::Options;

    wasm_bindgen_test_configure!(run_in_browser);

    fn token() -> TokenView {
        TokenView {
            access_token: "y0_token \"quoted\" и юникод".into(),
            token_type: "bearer".into(),
            expires_at: Some(1_900_000_000),
            obtained_at: 1_800_000_000,
            scope: None,
            has_refresh_token: true,
        }
    }

    fn full_session(outcome: FlowOutcome) -> SessionView {
        SessionView {
            provider: ProviderKind::Custom,
            default_scope: Some("direct:api".into()),
            providers: vec![ProviderView {
                id: "company".into(),
                kind: ProviderKind::Oidc,
                name: "Company login".into(),
                default_scope: None,
            }],
            token: Some(token()),
            connections: vec![ConnectionView {
                id: "c1".into(),
                provider: ProviderKind::Sandbox,
                provider_id: "sandbox".into(),
                account_id: "42".into(),
                login: "alice".into(),
                status: ConnectionStatus::NeedsReconnect,
                token: token(),
                device_name: Some("laptop".into()),
                created_at: -5,
                refreshed_at: None,
            }],
            outcome: Some(outcome),
            exchange_log: Some(ExchangeLog {
                entries: vec![LogEntry {
                    step: LogStep::TokenResponse,
                    method: "POST".into(),
                    url: "https://provider.example/token".into(),
                    status: Some(200),
                    fields: vec![
                        LogField {
                            name: "access_token".into(),
                            value: String::new(),
                            masked: true,
                        },
                        LogField {
                            name: "expires_in".into(),
                            value: "3600".into(),
                            masked: false,
                        },
                    ],
                }],
            }),
            signed_in: true,
            operator: true,
            all_connections: vec![ConnectionSummary {
                id: "c2".into(),
                provider: ProviderKind::Yandex,
                provider_id: String::new(),
                account_id: "7".into(),
                login: "bob".into(),
                status: ConnectionStatus::Unreadable,
                expires_at: None,
                scope: Some("a b".into()),
                has_refresh_token: false,
                created_at: 1,
                refreshed_at: Some(2),
            }],
        }
    }

    /// A browser keeps the log cookie for hours, and the server hands its JSON on as it was
    /// written: the form before empty values were left out must still read here.
    #[wasm_bindgen_test]
    fn an_exchange_log_written_before_empty_values_were_left_out_still_reads() {
        let written = r#"{"entries":[
            {"step":"token_request","method":"POST","url":"https://oauth.yandex.com/token","status":null,
             "fields":[{"name":"grant_type","value":"authorization_code","masked":false},{"name":"code","value":"","masked":true}]},
            {"step":"token_response","method":"","url":"","status":200,"fields":[]}]}"#;
        let log = from_str::<ExchangeLog>(written).unwrap();
        let request = &log.entries[0];
        assert_eq!((request.method.as_str(), request.status), ("POST", None));
        assert_eq!(request.fields[0].value, "authorization_code");
        assert!(!request.fields[0].masked && request.fields[1].masked);
        assert_eq!(log.entries[1].status, Some(200));
        assert!(log.entries[1].url.is_empty() && log.entries[1].fields.is_empty());
    }

    #[wasm_bindgen_test]
    fn the_session_view_reads_back_exactly_as_the_server_writes_it() {
        let failed = ApiError::new(ErrorCode::IssuerMismatch)
            .with_provider_message(Some("the provider's words".into()));
        for outcome in [
            FlowOutcome::Connected,
            FlowOutcome::Failed(failed),
            FlowOutcome::Failed(ApiError::new(ErrorCode::AccessDenied)),
        ] {
            let view = full_session(outcome);
            let text = serde_json::to_string(&view).unwrap();
            assert_eq!(from_str::<SessionView>(&text), Ok(view), "{text}");
        }
        for code in ErrorCode::ALL {
            let error = ApiError::new(code);
            let text = serde_json::to_string(&error).unwrap();
            assert_eq!(from_str::<ApiError>(&text), Ok(error));
        }
        let done = Disconnected {
            revoked: false,
            revocation: Revocation::NotForThisToken,
            message: "kept".into(),
        };
        let text = serde_json::to_string(&done).unwrap();
        assert_eq!(from_str::<Disconnected>(&text), Ok(done));
    }

    #[wasm_bindgen_test]
    fn an_older_or_newer_server_still_reads_fields_missing_defaulted_and_unknown_skipped() {
        let text = r#"{"provider":"custom","default_scope":null,"token":null,"outcome":null,
            "something_new":{"nested":[1,2.5,"x",null,true]}}"#;
        let view = from_str::<SessionView>(text).unwrap();
        assert_eq!(
            view.provider,
            ProviderKind::Custom,
            "the old name is an alias"
        );
        assert!(view.providers.is_empty() && view.connections.is_empty());
        assert!(!view.signed_in && !view.operator && view.exchange_log.is_none());
    }

    #[wasm_bindgen_test]
    fn json_of_another_shape_is_an_error() {
        for text in [
            "",
            "{",
            "[]",
            "null",
            r#"{"code":"no_such_code","message":"m"}"#,
            r#"{"code":"internal"}"#,
            r#"{"code":"internal","message":5}"#,
            r#"{"code":["internal"],"message":"m"}"#,
        ] {
            assert_eq!(from_str::<ApiError>(text), Err(Error), "{text}");
        }
        let token = r#"{"access_token":"t","token_type":"bearer","obtained_at":1.5,
            "has_refresh_token":false}"#;
        assert_eq!(
            from_str::<TokenView>(token),
            Err(Error),
            "a fraction is no time"
        );
    }

    #[wasm_bindgen_test]
    fn the_options_are_remembered_and_read_back_even_under_their_old_name() {
        let options = Options {
            scope: vec!["direct:api".into(), "login:email".into()],
            optional_scope: vec![],
            login_hint: "alice@example.com".into(),
            device_name: "reporting server".into(),
            ask_again: true,
        };
        let text = to_string(&options).unwrap();
        assert_eq!(from_str::<Options>(&text), Ok(options));
        let old = from_str::<Options>(r#"{"scope":["a"],"force_confirm":true}"#).unwrap();
        assert!(old.ask_again);
        assert_eq!(old.scope, ["a"]);
    }
}

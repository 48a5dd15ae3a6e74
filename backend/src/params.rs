//! Query strings and form bodies, decoded once, with duplicated parameters detected.

/// A query string or form body, decoded once, with duplicates detected.
/// Invalid UTF-8 is replaced rather than refused, so that a garbled parameter
/// fails on its value with a clear error instead of on the whole request.
pub struct Params(Vec<(String, String)>);

/// A parameter given more than once.
#[derive(Debug)]
pub struct Duplicate(pub &'static str);

impl Params {
    pub fn parse(raw: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(raw)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// Every parameter, decoded, in the order given.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The one value of `name`, if given; empty values count as absent.
    pub fn get(&self, name: &'static str) -> Result<Option<&str>, Duplicate> {
        let mut values = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (Some(_), Some(_)) => Err(Duplicate(name)),
            (Some(""), None) | (None, _) => Ok(None),
            (Some(value), None) => Ok(Some(value)),
        }
    }
}

use leptos::prelude::*;

fn main() {
    leptos::mount::mount_to_body(|| {
        let (text, set_text) = signal(String::from("not fetched"));
        view! {
            <button on:click=move |_| {
                leptos::task::spawn_local(async move {
                    let got = match gloo_net::http::Request::get("/healthz").send().await {
                        Ok(response) => response.text().await.unwrap_or_default(),
                        Err(error) => error.to_string(),
                    };
                    set_text.set(got);
                });
            }>"Fetch"</button>
            <p>{text}</p>
        }
    });
}

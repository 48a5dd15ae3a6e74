//! The page's parts: the Connect panel, the token card, the saved connections,
//! the "Use it" panel, the error view, and the Copy button they share.

mod connect;
mod connections;
mod copy;
mod error;
mod log;
mod token;

pub use connect::{ConnectPanel, Options};
pub use connections::{ConnectionList, UsePanel, direct_curl};
pub use copy::CopyButton;
pub use error::ErrorView;
pub use log::ExchangeLogPanel;
pub use token::TokenCard;

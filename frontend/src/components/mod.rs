//! The page's parts: the Connect panel, the token card, the saved connections,
//! the "Use it" panel, the operators' table of all connections, the error view,
//! and the Copy button they share.

mod connect;
mod connections;
mod copy;
mod error;
mod log;
mod operator;
mod token;

pub use connect::{ConnectPanel, Options};
pub use connections::{ConnectionList, UsePanel, direct_curl};
pub use copy::CopyButton;
pub use error::ErrorView;
pub use log::ExchangeLogPanel;
pub use operator::OperatorPanel;
pub use token::TokenCard;

//! The page's parts: the Connect panel, the token card, the error view.

mod connect;
mod error;
mod token;

pub use connect::ConnectPanel;
pub use error::ErrorView;
pub use token::TokenCard;

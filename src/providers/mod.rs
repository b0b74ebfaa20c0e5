//! AI provider sessions that implement [`Session`](crate::agent::Session).
//!
//! - [`openai`]: the OpenAI Realtime speech-to-speech session (GA protocol), cargo feature
//!   `openai` (on by default).

#[cfg(feature = "openai")]
#[cfg_attr(docsrs, doc(cfg(feature = "openai")))]
pub mod openai;

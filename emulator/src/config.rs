//! Emulator configuration.

/// How the emulator is set up. Build one with [`Config::default`] and the `with_*` methods.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Address to bind (default `127.0.0.1`).
    pub host: String,
    /// TCP port; `0` picks a free one (default).
    pub port: u16,
    /// The one API key the emulator accepts (`Authorization: Bearer …`).
    pub api_key: String,
    /// The account the key belongs to.
    pub account_id: String,
    /// Key used to sign status callbacks (`X-Signature`).
    pub signing_key: String,
    /// `true`: caller audio and agent playback are paced in real time (20 ms per frame).
    /// `false` (fast mode, what tests use): everything goes as fast as the sockets allow.
    pub realtime: bool,
    /// Numbers the account owns from the start (agents listen on these).
    pub numbers: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 0,
            api_key: "sk_test_emulator".into(),
            account_id: "AC0000000000emulator".into(),
            signing_key: "whsec_emulator".into(),
            realtime: false,
            numbers: vec!["07012340001".into(), "07012340002".into()],
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("api_key", &"<redacted>")
            .field("account_id", &self.account_id)
            .field("signing_key", &"<redacted>")
            .field("realtime", &self.realtime)
            .field("numbers", &self.numbers)
            .finish()
    }
}

impl Config {
    /// Sets the accepted API key.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }
    /// Sets the account id.
    pub fn with_account_id(mut self, id: impl Into<String>) -> Self {
        self.account_id = id.into();
        self
    }
    /// Sets the port (`0` = ephemeral).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
    /// Real-time pacing on (`true`) or fast mode (`false`).
    pub fn with_realtime(mut self, realtime: bool) -> Self {
        self.realtime = realtime;
        self
    }
    /// Sets the status-callback signing key.
    pub fn with_signing_key(mut self, key: impl Into<String>) -> Self {
        self.signing_key = key.into();
        self
    }
    /// Sets the numbers the account owns at start.
    pub fn with_numbers<I, S>(mut self, numbers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.numbers = numbers.into_iter().map(Into::into).collect();
        self
    }
}

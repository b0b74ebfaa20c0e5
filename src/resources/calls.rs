//! Calls: place (four modes), list, get, end, transcripts and summaries.

use clawops_api::types::{
    self, Call, CallControlResponse, CallControlStatus, CallStatus, MachineDetection,
    SummaryStatus, TranscriptRequestAccepted, TranscriptStatus,
};

use super::{list_request, resource};
use crate::client::op;
use crate::error::{Error, Result};
use crate::pagination::ListRequest;

resource! {
    /// Calls of one account; from [`ClawOps::calls`](crate::ClawOps::calls).
    ///
    /// ```no_run
    /// use clawops::resources::{CreateCall, ListCalls};
    /// use clawops::types::CallStatus;
    /// use futures::TryStreamExt;
    ///
    /// # async fn run(client: clawops::ClawOps) -> clawops::Result<()> {
    /// // Managed-agent mode with a per-call instruction.
    /// let call = client
    ///     .calls()
    ///     .create(
    ///         CreateCall::new("01012345678", "07052358010")
    ///             .agent("cmagent123")
    ///             .call_context("예약 확인만 하고 끊어라", [("orderId", "A-1234")]),
    ///     )
    ///     .await?;
    ///
    /// let call = client.calls().get(&call.call_id).await?;
    /// let done: Vec<_> = client
    ///     .calls()
    ///     .list(ListCalls::new().status(CallStatus::Completed).page_size(100))
    ///     .auto_paging()
    ///     .try_collect()
    ///     .await?;
    /// client.calls().end(&call.call_id).await?;
    /// # Ok(()) }
    /// ```
    Calls
}

/// Which of the four call modes a [`CreateCall`] selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallMode {
    /// No `Url`/`AgentId`/`CallFlowId`: bridged to the Agent SDK session of the `From` number.
    AgentSdk,
    /// `Url`: the URL returns VoiceML.
    VoiceMl,
    /// `AgentId`: a managed agent built in the console (optional call context).
    ManagedAgent,
    /// `CallFlowId`: a call flow (optional start variables).
    CallFlow,
}

/// Parameters of [`Calls::create`]. Mutually exclusive modes and mode-specific options are
/// checked before anything is sent.
///
/// ```
/// use clawops::resources::CreateCall;
///
/// let err = CreateCall::new("010", "070")
///     .url("https://my-app.com/voiceml")
///     .agent("cmagent123")
///     .into_request()
///     .unwrap_err();
/// assert!(err.to_string().contains("mutually exclusive"));
///
/// let body = CreateCall::new("010", "070")
///     .call_flow("cmryw3ycm000001s6on0kp9a8")
///     .variable("orderId", "A-1234")
///     .into_request()?;
/// assert_eq!(
///     serde_json::to_string(&body).unwrap(),
///     r#"{"CallFlowId":"cmryw3ycm000001s6on0kp9a8","From":"070","To":"010","Variables":{"orderId":"A-1234"}}"#
/// );
/// # Ok::<(), clawops::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct CreateCall {
    to: String,
    from: String,
    url: Option<String>,
    agent_id: Option<String>,
    call_context: Option<types::CallContext>,
    call_flow_id: Option<String>,
    variables: serde_json::Map<String, serde_json::Value>,
    status_callback: Option<String>,
    status_callback_event: Option<String>,
    ring_timeout: Option<i32>,
    machine_detection: Option<MachineDetection>,
}

impl CreateCall {
    /// A call from `from` (a number of the account) to `to` (a number or `sip:` URI), in Agent
    /// SDK mode until a mode is chosen.
    pub fn new(to: impl Into<String>, from: impl Into<String>) -> Self {
        Self {
            to: to.into(),
            from: from.into(),
            ..Self::default()
        }
    }

    /// VoiceML mode: `url` returns VoiceML.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// Managed-agent mode.
    pub fn agent(mut self, agent_id: impl Into<String>) -> Self {
        self.agent_id = Some(agent_id.into());
        self
    }

    /// Per-call context of a managed agent: an instruction (max 4000 chars) and variables.
    pub fn call_context<K, V>(
        mut self,
        instruction: impl Into<String>,
        variables: impl IntoIterator<Item = (K, V)>,
    ) -> Self
    where
        K: Into<String>,
        V: Into<serde_json::Value>,
    {
        self.call_context = Some(types::CallContext {
            instruction: instruction.into(),
            variables: variables
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        });
        self
    }

    /// Call-flow mode.
    pub fn call_flow(mut self, call_flow_id: impl Into<String>) -> Self {
        self.call_flow_id = Some(call_flow_id.into());
        self
    }

    /// A call-flow start variable (string, number or boolean); only with [`call_flow`](Self::call_flow).
    pub fn variable(
        mut self,
        name: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.variables.insert(name.into(), value.into());
        self
    }

    /// Status-callback URL and the events to report (e.g. `["initiated", "completed"]`).
    pub fn status_callback<I, S>(mut self, url: impl Into<String>, events: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.status_callback = Some(url.into());
        let events: Vec<String> = events.into_iter().map(|e| e.as_ref().to_owned()).collect();
        self.status_callback_event = (!events.is_empty()).then(|| events.join(" "));
        self
    }

    /// Ring timeout in seconds (the `Timeout` body field, not the HTTP timeout).
    pub fn ring_timeout(mut self, seconds: i32) -> Self {
        self.ring_timeout = Some(seconds);
        self
    }

    /// Answering-machine detection.
    pub fn machine_detection(mut self, mode: MachineDetection) -> Self {
        self.machine_detection = Some(mode);
        self
    }

    /// The selected mode (first one set, if several were).
    pub fn mode(&self) -> CallMode {
        if self.url.is_some() {
            CallMode::VoiceMl
        } else if self.agent_id.is_some() {
            CallMode::ManagedAgent
        } else if self.call_flow_id.is_some() {
            CallMode::CallFlow
        } else {
            CallMode::AgentSdk
        }
    }

    /// Validates and returns the wire body.
    pub fn into_request(self) -> Result<types::CreateCallRequest> {
        let set: Vec<&str> = [
            ("url", self.url.is_some()),
            ("agent", self.agent_id.is_some()),
            ("call_flow", self.call_flow_id.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, on)| on.then_some(n))
        .collect();
        if set.len() > 1 {
            return Err(Error::InvalidRequest(format!(
                "`url`, `agent` and `call_flow` are mutually exclusive call modes (got {})",
                set.join(" and ")
            )));
        }
        if !self.variables.is_empty() && self.call_flow_id.is_none() {
            return Err(Error::InvalidRequest(
                "call-flow `variable`s are only valid together with `call_flow`".into(),
            ));
        }
        if self.call_context.is_some() && self.agent_id.is_none() {
            return Err(Error::InvalidRequest(
                "`call_context` is only valid together with `agent`".into(),
            ));
        }
        if self.to.is_empty() || self.from.is_empty() {
            return Err(Error::InvalidRequest(
                "`to` and `from` must not be empty".into(),
            ));
        }
        Ok(types::CreateCallRequest {
            agent_id: self.agent_id,
            call_context: self.call_context,
            call_flow_id: self.call_flow_id,
            from: self.from,
            machine_detection: self.machine_detection,
            status_callback: self.status_callback,
            status_callback_event: self.status_callback_event,
            timeout: self.ring_timeout,
            to: self.to,
            url: self.url,
            variables: self.variables,
        })
    }
}

/// Filters of [`Calls::list`].
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ListCalls {
    status: Option<CallStatus>,
    from: Vec<String>,
    to: Vec<String>,
    number: Vec<String>,
    page: Option<i64>,
    page_size: Option<i64>,
}

impl ListCalls {
    /// No filters.
    pub fn new() -> Self {
        Self::default()
    }
    /// Only calls with this status.
    pub fn status(mut self, status: CallStatus) -> Self {
        self.status = Some(status);
        self
    }
    /// Caller number (call repeatedly for IN).
    pub fn from(mut self, number: impl Into<String>) -> Self {
        self.from.push(number.into());
        self
    }
    /// Callee number (call repeatedly for IN).
    pub fn to(mut self, number: impl Into<String>) -> Self {
        self.to.push(number.into());
        self
    }
    /// Number on either side (call repeatedly for IN).
    pub fn number(mut self, number: impl Into<String>) -> Self {
        self.number.push(number.into());
        self
    }
    /// 0-based page to start from.
    pub fn page(mut self, page: i64) -> Self {
        self.page = Some(page);
        self
    }
    /// Items per page (1–100).
    pub fn page_size(mut self, size: i64) -> Self {
        self.page_size = Some(size);
        self
    }
}

impl Calls {
    /// Places a call (`POST /calls`). Retried only when it provably did not reach the server
    /// or was refused without acting (429/503): never on 500 or a timeout.
    pub async fn create(&self, params: CreateCall) -> Result<Call> {
        let body = params.into_request()?;
        let account = self.ctx.account();
        self.ctx
            .run(op!("create_call", "POST", "/calls"), |api| {
                let body = body.clone();
                let account = account.to_owned();
                async move {
                    api.create_call()
                        .account_id(account)
                        .body(body)
                        .send()
                        .await
                }
            })
            .await
    }

    /// Lists calls; `.await` for one page or `.auto_paging()` for every call.
    pub fn list(&self, params: ListCalls) -> ListRequest<Call> {
        let page = params.page;
        list_request(
            self.ctx.clone(),
            op!("list_calls", "GET", "/calls"),
            params,
            page,
            |api, account, p: ListCalls, page| async move {
                let mut b = api.list_calls().account_id(account);
                if let Some(s) = p.status {
                    b = b.status(s);
                }
                if !p.from.is_empty() {
                    b = b.from(p.from);
                }
                if !p.to.is_empty() {
                    b = b.to(p.to);
                }
                if !p.number.is_empty() {
                    b = b.number(p.number);
                }
                if let Some(page) = page {
                    b = b.page(page);
                }
                if let Some(size) = p.page_size {
                    b = b.page_size(size);
                }
                b.send().await
            },
        )
    }

    /// One call, including its transfer attempts.
    pub async fn get(&self, call_id: &str) -> Result<Call> {
        let account = self.ctx.account();
        self.ctx
            .run(op!("get_call", "GET", "/calls/{callId}"), |api| {
                let (account, id) = (account.to_owned(), call_id.to_owned());
                async move { api.get_call().account_id(account).call_id(id).send().await }
            })
            .await
    }

    /// Ends a live call (`{"Status":"completed"}`).
    pub async fn end(&self, call_id: &str) -> Result<CallControlResponse> {
        let account = self.ctx.account();
        self.ctx
            .run(op!("update_call", "POST", "/calls/{callId}"), |api| {
                let (account, id) = (account.to_owned(), call_id.to_owned());
                async move {
                    api.update_call()
                        .account_id(account)
                        .call_id(id)
                        .body(types::UpdateCallRequest {
                            status: CallControlStatus::Completed,
                        })
                        .send()
                        .await
                }
            })
            .await
    }

    /// The transcript status, with all segments once completed.
    pub async fn transcript(&self, call_id: &str) -> Result<TranscriptStatus> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!("get_call_transcript", "GET", "/calls/{callId}/transcript"),
                |api| {
                    let (account, id) = (account.to_owned(), call_id.to_owned());
                    async move {
                        api.get_call_transcript()
                            .account_id(account)
                            .call_id(id)
                            .send()
                            .await
                    }
                },
            )
            .await
    }

    /// Requests transcription of one call (billed; a second request gets 409).
    pub async fn request_transcript(&self, call_id: &str) -> Result<TranscriptRequestAccepted> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!(
                    "request_call_transcript",
                    "POST",
                    "/calls/{callId}/transcript"
                ),
                |api| {
                    let (account, id) = (account.to_owned(), call_id.to_owned());
                    async move {
                        api.request_call_transcript()
                            .account_id(account)
                            .call_id(id)
                            .send()
                            .await
                    }
                },
            )
            .await
    }

    /// The LLM summary status of a call.
    pub async fn summary(&self, call_id: &str) -> Result<SummaryStatus> {
        let account = self.ctx.account();
        self.ctx
            .run(
                op!("get_call_summary", "GET", "/calls/{callId}/summary"),
                |api| {
                    let (account, id) = (account.to_owned(), call_id.to_owned());
                    async move {
                        api.get_call_summary()
                            .account_id(account)
                            .call_id(id)
                            .send()
                            .await
                    }
                },
            )
            .await
    }
}

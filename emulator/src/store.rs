//! In-memory REST state of the account, seeded with a few resources the API cannot create.

use std::collections::{BTreeMap, HashMap};

use clawops_api::types::{
    AssignmentLink, BlockedRecipient, Call, KakaoBrandImage, KakaoBrandTemplate, KakaoChannel,
    KakaoChannelCategory, KakaoTemplate, Message, NumberSource, NumberType, PhoneNumber,
    RoutingType, SenderNumber, SipCredential, SipEndpoint, SummaryStatus, TranscriptStatus,
    WebhookLog, WebhookMethod,
};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::util::now_rfc3339;

/// Every REST resource of the emulated account.
#[derive(Default)]
pub(crate) struct Store {
    pub numbers: BTreeMap<String, PhoneNumber>,
    /// Calls, oldest first (lists answer newest first).
    pub calls: Vec<Call>,
    pub messages: Vec<Message>,
    pub transcripts: HashMap<String, TranscriptStatus>,
    pub summaries: HashMap<String, SummaryStatus>,
    pub recordings: HashMap<String, Vec<u8>>,
    pub links: Vec<AssignmentLink>,
    pub blocked: Vec<BlockedRecipient>,
    pub sip_credentials: Vec<SipCredential>,
    pub sip_endpoints: Vec<SipEndpoint>,
    pub sender_numbers: Vec<SenderNumber>,
    pub kakao_channels: Vec<KakaoChannel>,
    pub kakao_templates: Vec<KakaoTemplate>,
    pub brand_templates: Vec<KakaoBrandTemplate>,
    pub brand_images: Vec<KakaoBrandImage>,
    pub categories: Vec<KakaoChannelCategory>,
    pub webhook_logs: Vec<WebhookLog>,
    /// Kakao channel search ids with a pending token request.
    pub kakao_tokens: Vec<String>,
    /// Next pool number to hand out.
    pub pool_next: u32,
}

fn seed<T: DeserializeOwned>(value: serde_json::Value) -> Option<T> {
    match serde_json::from_value(value) {
        Ok(v) => Some(v),
        Err(error) => {
            tracing::error!(%error, "emulator seed does not match the spec model");
            None
        }
    }
}

/// A pool number as `numbers.create` hands it out.
pub(crate) fn pool_number(number: String) -> PhoneNumber {
    PhoneNumber {
        agent_id: None,
        call_context_url: None,
        call_flow_id: None,
        created_at: Some(now_rfc3339()),
        dictionary_id: None,
        forward_to: None,
        number,
        number_type: Some(NumberType::Did),
        routing_type: Some(RoutingType::Webhook),
        sip_credential_id: None,
        sip_endpoint_id: None,
        source: Some(NumberSource::Pool),
        status_callback: None,
        status_callback_events: None,
        webhook_headers: None,
        webhook_method: Some(WebhookMethod::Post),
        webhook_url: None,
    }
}

impl Store {
    /// A store with the configured numbers and fixed SIP, Kakao and sender-number fixtures.
    pub(crate) fn seeded(account_id: &str, numbers: &[String]) -> Self {
        let now = now_rfc3339();
        let mut store = Self {
            pool_next: 1,
            ..Self::default()
        };
        for number in numbers {
            let mut n = pool_number(number.clone());
            n.routing_type = Some(RoutingType::Agent);
            store.numbers.insert(number.clone(), n);
            store.sender_numbers.extend(seed(json!({
                "id": format!("sn_{number}"), "number": number, "type": "070", "status": "approved",
                "verificationMethod": "own_provisioned", "createdAt": now,
            })));
        }
        store.sip_credentials.extend(seed(json!({
            "id": "SC0000000000000000000000000000001", "accountId": account_id, "name": "front-desk",
            "username": "frontdesk", "realm": "sip.claw-ops.com", "enabled": true, "status": "active",
            "allowedNumbers": numbers, "dateCreated": now, "dateUpdated": now,
        })));
        store.sip_endpoints.extend(seed(json!({
            "id": "SE0000000000000000000000000000001", "accountId": account_id, "name": "pbx",
            "maxConcurrent": 10, "status": "active", "routes": [{"host": "127.0.0.1", "port": 5060}],
            "dateCreated": now, "dateUpdated": now,
        })));
        store.categories.extend(
            [("001", "교육"), ("002", "금융"), ("003", "쇼핑")]
                .into_iter()
                .filter_map(|(code, name)| seed(json!({"code": code, "name": name}))),
        );
        store.kakao_channels.extend(seed(json!({
            "id": "KC_demo", "searchId": "@clawops-demo", "name": "ClawOps Demo", "categoryCode": "001",
            "status": "connected", "managerPhoneMasked": "010-****-5678", "connectedAt": now,
            "syncedAt": now, "createdAt": now, "updatedAt": now,
        })));
        store.kakao_templates.extend(seed(json!({
            "id": "TPL_welcome", "channelId": "KC_demo", "name": "welcome", "content": "#{name}님, 환영합니다.",
            "variables": ["name"], "status": "APPROVED", "messageType": "BA", "emphasizeType": "NONE",
            "assignType": "CHANNEL", "sendable": true, "dormant": false, "createdAt": now, "updatedAt": now,
        })));
        store.brand_templates.extend(seed(json!({
            "id": "BT_promo", "channelId": "KC_demo", "name": "promo", "chatBubbleType": "TEXT",
            "content": "#{name}님을 위한 혜택", "header": null, "variables": ["name"],
            "createdAt": now, "updatedAt": now,
        })));
        store.brand_images.extend(seed(json!({
            "id": "BI_logo", "name": "logo.png", "bubbleType": "IMAGE", "slot": "main", "createdAt": now,
        })));
        store
    }

    /// Index of a call by id.
    pub(crate) fn call_mut(&mut self, call_id: &str) -> Option<&mut Call> {
        self.calls.iter_mut().find(|c| c.call_id == call_id)
    }
}

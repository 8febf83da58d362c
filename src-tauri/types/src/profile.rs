//! The `profile` argument of `create_engine`: what the UI sends, and the
//! engine profile made of it.

use media_core::{EngineProfile, Scenario};
use serde::Deserialize;

use crate::CommandError;

/// The `profile` argument of `create_engine`, as the UI sends it.
/// Lenient on purpose: an unusable `app_id` or `scenario` fails with the
/// SDK's code, not as a malformed argument.
#[derive(Debug, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "EngineProfile"))]
pub struct ProfileArg {
    /// The signaling URL, e.g. `wss://host:7443/ws`.
    pub server: String,
    /// The AppID (a `u32`).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub app_id: serde_json::Value,
    /// Only for people running their own server with its AppSign; guests
    /// log in with an invite's token instead.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub app_sign: Option<String>,
    /// A `media_core::Scenario` name (`Default` when absent or empty).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional, as = "Option<media_core::Scenario>"))]
    pub scenario: Option<String>,
    /// The SHA-256 fingerprint of the server's (self-signed) certificate to
    /// pin, `AB:CD:…` (from an invite link's `fp`): the SDK then trusts it
    /// without any CA.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub pin: Option<String>,
}

/// The engine profile for the UI's `profile` object; argument errors carry
/// the SDK's codes (an unusable AppID is `InvalidAppId`, ...).
pub fn parse_profile(profile: serde_json::Value) -> Result<EngineProfile, CommandError> {
    let arg: ProfileArg = serde_json::from_value(profile)
        .map_err(|e| CommandError::invalid_argument(format!("profile: {e}")))?;
    let app_id = arg
        .app_id
        .as_u64()
        .and_then(|id| u32::try_from(id).ok())
        .ok_or(media_core::EngineError::InvalidAppId)?;
    let scenario = match arg.scenario.as_deref() {
        None | Some("") => Scenario::Default,
        Some(name) => serde_json::from_value(serde_json::Value::String(name.to_owned()))
            .map_err(|_| CommandError::invalid_argument(format!("unknown scenario {name:?}")))?,
    };
    Ok(EngineProfile {
        app_id,
        app_sign: arg.app_sign.unwrap_or_default().trim().to_owned(),
        scenario,
        server: arg.server,
        reconnect: Default::default(),
        transport: Default::default(),
        tls: media_core::TlsOptions {
            extra_ca_pem: None,
            pinned_cert_sha256: arg.pin.filter(|p| !p.trim().is_empty()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ErrorCode;
    use serde_json::json;

    #[test]
    fn profiles_parse_with_sdk_codes() {
        let ok = parse_profile(json!({
            "server": "ws://127.0.0.1:1/ws",
            "app_id": 42,
            "scenario": "StandardVideoCall"
        }))
        .unwrap();
        assert_eq!(
            (ok.app_id, ok.scenario, ok.app_sign.as_str()),
            (42, Scenario::StandardVideoCall, "")
        );
        let bad_id = parse_profile(json!({"server": "ws://x/ws", "app_id": "42"})).unwrap_err();
        assert_eq!(bad_id.code, ErrorCode::InvalidAppId.code());
        let negative = parse_profile(json!({"server": "ws://x/ws", "app_id": -1})).unwrap_err();
        assert_eq!(negative.code, ErrorCode::InvalidAppId.code());
        let scenario =
            parse_profile(json!({"server": "ws://x/ws", "app_id": 1, "scenario": "Nope"}))
                .unwrap_err();
        assert_eq!(scenario.code, ErrorCode::MalformedMessage.code());
    }
}

//! A minimal W3C WebDriver client (just what the app E2E needs), talking to
//! tauri-driver over HTTP on loopback.

use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The W3C element reference key.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver session on the app's webview.
pub struct Session {
    base: String,
    agent: ureq::Agent,
}

impl Session {
    /// Starts the app at `application` through the driver on `port`.
    pub fn start(port: u16, application: &str) -> Result<Session, String> {
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(60))
            .build();
        let root = format!("http://127.0.0.1:{port}");
        let caps = json!({"capabilities": {"alwaysMatch": {
            "tauri:options": {"application": application}
        }}});
        let created = call(&agent, "POST", &format!("{root}/session"), Some(caps))
            .map_err(|e| format!("WebDriver new session failed: {e}"))?;
        let id = created["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no sessionId in {created}"))?
            .to_owned();
        Ok(Session {
            base: format!("{root}/session/{id}"),
            agent,
        })
    }

    fn post(&self, path: &str, body: Value) -> Result<Value, String> {
        call(
            &self.agent,
            "POST",
            &format!("{}{path}", self.base),
            Some(body),
        )
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub fn exec(&self, script: &str, args: Value) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` until it returns something other than null/false, or
    /// panics after `timeout` with `what`.
    pub fn wait_for(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self
                .post("/execute/sync", json!({"script": script, "args": []}))
                .unwrap_or(Value::Null);
            if !(v.is_null() || v == Value::Bool(false)) {
                return v;
            }
            if Instant::now() >= deadline {
                let shot = crate::app::artifacts_dir().join("timeout.png");
                crate::screen::screenshot(&shot);
                panic!(
                    "timed out waiting for {what}; the screen is in {}",
                    shot.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clicks the element matching `css`.
    pub fn click(&self, css: &str) {
        let found = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .unwrap_or_else(|e| panic!("no element {css}: {e}"));
        let id = found[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("bad element reply {found}"))
            .to_owned();
        self.post(&format!("/element/{id}/click"), json!({}))
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Sets the window's outer size.
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({"width": width, "height": height}))
            .unwrap_or_else(|e| panic!("resize: {e}"));
    }

    /// Ends the session (the driver closes the app).
    pub fn close(self) {
        let _ = call(&self.agent, "DELETE", &self.base, None);
    }
}

fn call(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let request = agent.request(method, url);
    let reply = match body {
        Some(b) => request.send_json(b),
        None => request.call(),
    };
    let response = match reply {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            return Err(format!(
                "HTTP {code}: {}",
                r.into_string().unwrap_or_default()
            ))
        }
        Err(e) => return Err(e.to_string()),
    };
    let v: Value = response.into_json().map_err(|e| e.to_string())?;
    Ok(v["value"].clone())
}

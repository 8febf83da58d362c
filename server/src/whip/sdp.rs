//! The SDP edits WHIP and WHEP need, pure: a first look at an offer (so a
//! body that is not SDP is refused before anyone joins a room), and the
//! SFU's trickled candidates written into its answer (WHIP and WHEP clients
//! get every server candidate in the answer; the server does not trickle).

/// Why an offer was refused before negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OfferError {
    /// The body does not start with `v=0` (not an SDP session description).
    #[error("not an SDP session description")]
    NotSdp,
    /// No `m=audio` or `m=video` section.
    #[error("the offer has no audio or video section")]
    NoMedia,
}

/// Checks that `offer` looks like an SDP offer with audio or video.
pub fn check_offer(offer: &str) -> Result<(), OfferError> {
    if !offer.trim_start().starts_with("v=0") {
        return Err(OfferError::NotSdp);
    }
    let has_media = lines(offer).any(|l| l.starts_with("m=audio ") || l.starts_with("m=video "));
    if has_media {
        Ok(())
    } else {
        Err(OfferError::NoMedia)
    }
}

/// `answer` with `candidates` (each a `candidate:...` line, as trickled)
/// and `a=end-of-candidates` in every media section, CRLF line ends. A
/// section that already lists candidates keeps them.
pub fn with_candidates(answer: &str, candidates: &[String]) -> String {
    let mut out = String::with_capacity(answer.len() + candidates.len() * 80);
    let mut in_media = false;
    let flush = |out: &mut String, in_media: bool| {
        if in_media {
            for candidate in candidates {
                out.push_str("a=");
                out.push_str(candidate);
                out.push_str("\r\n");
            }
            out.push_str("a=end-of-candidates\r\n");
        }
    };
    for line in lines(answer) {
        if line == "a=end-of-candidates" {
            continue;
        }
        if line.starts_with("m=") {
            flush(&mut out, in_media);
            in_media = true;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    flush(&mut out, in_media);
    out
}

/// The non-empty lines of an SDP, without their line ends.
fn lines(sdp: &str) -> impl Iterator<Item = &str> {
    sdp.split('\n')
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_are_checked() {
        assert_eq!(
            check_offer("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"),
            Ok(())
        );
        assert_eq!(
            check_offer("v=0\nm=audio 9 UDP/TLS/RTP/SAVPF 111\n"),
            Ok(())
        );
        assert_eq!(check_offer("hello"), Err(OfferError::NotSdp));
        assert_eq!(check_offer(""), Err(OfferError::NotSdp));
        assert_eq!(
            check_offer("v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"),
            Err(OfferError::NoMedia)
        );
    }

    #[test]
    fn candidates_go_into_every_media_section() {
        let answer = "v=0\r\ns=-\r\nm=audio 9 X 111\r\na=mid:0\r\nm=video 9 X 96\r\na=mid:1\r\na=end-of-candidates\r\n";
        let c = vec!["candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host".to_owned()];
        let out = with_candidates(answer, &c);
        assert_eq!(
            out,
            "v=0\r\ns=-\r\nm=audio 9 X 111\r\na=mid:0\r\n\
             a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n\
             m=video 9 X 96\r\na=mid:1\r\n\
             a=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\na=end-of-candidates\r\n"
        );
        assert_eq!(with_candidates("v=0\ns=-\n", &c), "v=0\r\ns=-\r\n");
    }
}

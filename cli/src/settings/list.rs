//! The settings themselves: one row per tunable of the deployed service.

use super::setting::{Allowed, Check, DefaultValue, Setting};

/// Lambda's retention choices for a log group, in days.
const RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// The most posts a broadcast may keep in flight (Lambda's file descriptors).
const CEILING: u32 = mb_lambda::delivery::in_flight::MAX_CEILING as u32;

/// Every setting, in the order flags, `mb info` and the docs list them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "memory",
        parameter: "MemorySize",
        default: DefaultValue::Template(1769),
        allowed: Allowed::Range {
            min: 128,
            max: 10240,
        },
        unit: "MB",
        help: "Function memory; Lambda gives CPU in proportion to it, one vCPU at 1769 MB \
               (the default: a broadcast's posts need it; docs/deploy.md, \"What a broadcast \
               costs\")",
    },
    Setting {
        key: "timeout",
        parameter: "Timeout",
        default: DefaultValue::Template(30),
        allowed: Allowed::Range { min: 1, max: 900 },
        unit: "s",
        help: "Function timeout; a broadcast still running near it (or near API Gateway's \
               29 s) hands the rest to another invocation",
    },
    Setting {
        key: "fanout-concurrency",
        parameter: "FanoutConcurrency",
        default: DefaultValue::Template(CEILING),
        // Lambda allows 1,024 file descriptors; each post in flight holds a connection.
        allowed: Allowed::Range {
            min: 1,
            max: CEILING,
        },
        unit: "",
        help: "Management API posts in flight at once per broadcast, at most: below it the \
               number follows the endpoint's latency (enough for the account's rate)",
    },
    Setting {
        key: "connect-grace",
        parameter: "ConnectGraceSeconds",
        default: DefaultValue::Template(mb_lambda::delivery::connect_window::DEFAULT_GRACE_SECONDS),
        allowed: Allowed::Range { min: 0, max: 300 },
        unit: "s",
        help: "A 410 Gone from a connection stored less than this long ago keeps its row: \
               the client may still be connecting (API Gateway's connect window)",
    },
    Setting {
        key: "throttle-rate",
        parameter: "ThrottlingRateLimit",
        default: DefaultValue::Template(100),
        allowed: Allowed::Range { min: 1, max: 10000 },
        unit: "messages/s",
        help: "Steady messages per second the API accepts (a cost cap; 10,000/s is the \
               account's own limit)",
    },
    Setting {
        key: "throttle-burst",
        parameter: "ThrottlingBurstLimit",
        default: DefaultValue::Template(50),
        allowed: Allowed::Range { min: 1, max: 5000 },
        unit: "messages",
        help: "Messages the API accepts in a burst above the rate (0 would refuse every \
               message, so at least 1)",
    },
    Setting {
        key: "log-retention",
        parameter: "LogRetentionInDays",
        default: DefaultValue::Template(14),
        allowed: Allowed::OneOf(RETENTION_DAYS),
        unit: "days",
        help: "Days CloudWatch Logs keeps the function's logs",
    },
    Setting {
        key: "reserved-concurrency",
        parameter: "ReservedConcurrency",
        default: DefaultValue::Computed {
            template: 0,
            how: crate::concurrency::DEFAULT_HOW,
        },
        allowed: Allowed::Range {
            min: 0,
            max: crate::concurrency::MAX_RESERVATION,
        },
        unit: "",
        help: "Concurrent invocations reserved for the function, which are also the most it \
               runs at once: it cannot starve the account's other functions, nor they it \
               (0: no reservation; the account must keep 100 unreserved)",
    },
    Setting {
        key: "auth",
        parameter: "Auth",
        default: DefaultValue::Word("none"),
        allowed: Allowed::Choice(&["none", "jwt"]),
        unit: "",
        help: "Who may connect: none (anyone who has the URL) or jwt (a token in \
               `?token=`, checked by a Lambda authorizer on every connect; docs/security.md)",
    },
    Setting {
        key: "jwks-url",
        parameter: "JwksUrl",
        default: DefaultValue::Word(""),
        allowed: Allowed::Text(Check::HttpsUrl),
        unit: "",
        help: "With jwt: an issuer's key set (Cognito, Auth0), whose RS256/ES256 tokens \
               are accepted; without it, HS256 tokens signed with a secret the stack \
               generates in Secrets Manager (`mb token`)",
    },
    Setting {
        key: "issuer",
        parameter: "JwtIssuer",
        default: DefaultValue::Word(""),
        allowed: Allowed::Text(Check::Claim),
        unit: "",
        help: "With jwt: the `iss` a token must have (a token without one is refused); \
               required with jwks-url (empty: not checked)",
    },
    Setting {
        key: "audience",
        parameter: "JwtAudience",
        default: DefaultValue::Word(""),
        allowed: Allowed::Text(Check::Claim),
        unit: "",
        help: "With jwt: the `aud` a token must have (a token without one is refused, \
               and Cognito access tokens have none: docs/security.md; empty: not checked)",
    },
    Setting {
        key: "allow-origin",
        parameter: "AllowedOrigins",
        default: DefaultValue::Word(""),
        allowed: Allowed::List(Check::Origin),
        unit: "",
        help: "A browser origin a handshake may come from (repeatable; none: any); stops \
               other sites' pages, not programs, which send any Origin they like",
    },
    Setting {
        key: "max-messages-per-second",
        parameter: "MaxMessagesPerSecond",
        default: DefaultValue::Template(0),
        allowed: Allowed::Range { min: 0, max: 10000 },
        unit: "messages/s",
        help: "Messages one connection may send per second, counted in the table (one \
               UpdateItem per message; 0: no limit); the excess gets an error frame",
    },
    Setting {
        key: "history-seconds",
        parameter: "HistorySeconds",
        default: DefaultValue::Template(mb_lambda::store::DEFAULT_HISTORY_SECONDS),
        allowed: Allowed::Range {
            min: 0,
            max: mb_lambda::store::MAX_HISTORY_SECONDS,
        },
        unit: "s",
        help: "How long a channel keeps each message, numbered (`_seq`), for a client that \
               reconnects and resumes (0: no history; each message costs two more DynamoDB \
               writes: docs/deploy.md)",
    },
    Setting {
        key: "default-room-history",
        parameter: "DefaultRoomHistory",
        default: DefaultValue::Word("false"),
        allowed: Allowed::Choice(&["false", "true"]),
        unit: "",
        help: "true: the default room keeps history too, and its copies carry `_seq` and \
               `_epoch` (false keeps them byte for byte as before history)",
    },
];

/// The setting with this key.
pub fn find(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

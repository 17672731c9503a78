// Package dli is dlibot's DLI (Data Lake Insight) client: context-first,
// typed, over the official Huawei Cloud SDK (huaweicloud-sdk-go-v3,
// services/dli/v1).
//
// The SDK signs every request (SDK-HMAC-SHA256 with AK/SK, plus the
// security token of temporary credentials) and encodes the wire types.
// This package adds what the SDK lacks:
//
//   - a context on every call: its deadline and cancellation are honoured,
//     a cancelled call returns promptly with an error matching
//     context.Canceled;
//   - one retry policy: exponential backoff with full jitter on 429, 5xx and
//     network errors, honouring Retry-After, bounded attempts
//     (Config.MaxAttempts). Calls that create something (SubmitSQL,
//     ImportData, CreatePlan, CreateBatch, RunFlinkJobs, ScaleQueue,
//     RestartQueue) are retried only when the request provably never
//     reached DLI (the connection was refused) or DLI answered 429 — never
//     after an ambiguous failure, which could start a second job;
//   - a client-side token-bucket rate limit (Config.QPS);
//   - typed errors (*Error) with the HTTP status, error_code, error_msg and
//     request id, sentinels for errors.Is (ErrNotFound, ErrAuth,
//     ErrThrottled, ErrQuota, ErrConflict, ErrInvalid) and Retryable;
//   - iterators over the paged lists (SQLJobs, FlinkJobs, Batches) and
//     dlibot's own small types instead of the SDK's pointer-heavy models.
//
// Configuration comes from the SDK's own variables (HUAWEICLOUD_SDK_AK,
// HUAWEICLOUD_SDK_SK, HUAWEICLOUD_SDK_PROJECT_ID,
// HUAWEICLOUD_SDK_SECURITY_TOKEN) and DLI_REGION, DLI_ENDPOINT, DLI_QPS,
// DLI_TIMEOUT, DLI_MAX_ATTEMPTS; see Config. Tests run the client against
// the emulator in package dlitest.
package dli

// What the server does with each top-level field of a /v1/chat/completions or /v1/completions
// request. Nothing is silently ignored; every field is one of:
//   read       implemented (request_params.cc, tool_choice.cc, the chat encoder, the routes);
//   no-op      accepted for a documented reason, with its type checked (e.g. `user`: Tachyon does no
//              per-user monitoring, so the identifier changes nothing);
//   default    accepted at its default value only (e.g. `parallel_tool_calls: true`), else a 400;
//   refused    a 400 whatever the value (e.g. vLLM's `guided_json`: there is no constrained decoding).
// A field the table does not list is refused too, as OpenAI refuses unrecognized arguments (vLLM only
// logs them): a client that sets a field expects it to do something. A null value counts as absent.
// Each 400 names the field in `param` and says why in one line. Adding a field to a route means adding
// it to the table in request_fields.cc.
#pragma once

#include "server/api_error.h"

namespace tachyon::server {

enum class ApiKind { kChat, kCompletions };

// Checks every top-level field of `body` against the table (throws ApiException).
void check_request_fields(const Json& body, ApiKind kind);

// Chat values the chat encoder reads leniently (as the reference does), checked strictly for the API:
// chat_template_kwargs (only `thinking`, `enable_thinking`, `drop_thinking`, each a boolean) and
// reasoning_effort (none, minimal, low, medium, high, xhigh or max; other than none only in thinking
// mode, which is the only mode it changes).
void check_chat_options(const Json& body);

}  // namespace tachyon::server

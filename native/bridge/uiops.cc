// The dialogs a UI would show, as events: authorization requests (account UI ops), notices
// (notify UI ops) and questions (request UI ops). Each question gets an id; JS answers it later
// with respondAuthorization / answerRequest, and libpurple may withdraw it first
// (close_request / close_account_request → "request-closed").
#include "bridge.h"

#include <cstdarg>
#include <map>

namespace bridge {

namespace {

uint32_t nextId = 1;

// ---- authorization (account UI ops) ----

struct Auth {
  uint32_t id;
  PurpleAccountRequestAuthorizationCb accept;
  PurpleAccountRequestAuthorizationCb deny;
  void* data;
};
std::map<uint32_t, Auth*> auths;

void* RequestAuthorize(PurpleAccount* account, const char* remoteUser, const char* id, const char* alias,
                       const char* message, gboolean onList, PurpleAccountRequestAuthorizationCb accept,
                       PurpleAccountRequestAuthorizationCb deny, void* data) {
  auto* auth = new Auth{nextId++, accept, deny, data};
  auths[auth->id] = auth;
  Emit("authorization-requested", Json()
                                      .num("id", auth->id)
                                      .account(account)
                                      .str("who", remoteUser)
                                      .str("message", message)
                                      .done());
  return auth;
}

void CloseAccountRequest(void* handle) {
  for (auto it = auths.begin(); it != auths.end(); ++it) {
    if (it->second != handle) continue;
    uint32_t id = it->first;
    delete it->second;
    auths.erase(it);
    Emit("request-closed", Json().num("id", id).done());
    return;
  }
}

PurpleAccountUiOps accountOps = {
    nullptr, nullptr, nullptr, RequestAuthorize, CloseAccountRequest, nullptr, nullptr, nullptr, nullptr,
};

// ---- notify ----

const char* LevelName(PurpleNotifyMsgType type) {
  switch (type) {
    case PURPLE_NOTIFY_MSG_ERROR: return "error";
    case PURPLE_NOTIFY_MSG_WARNING: return "warning";
    default: return "info";
  }
}

// Notices need no answer: returning NULL tells libpurple the "dialog" is already closed.
void* NotifyEvent(const char* kind, const char* level, const char* title, const char* primary, const char* secondary,
                  const char* text) {
  Json j;
  j.str("kind", kind);
  if (level) j.str("level", level); else j.null("level");
  Emit("notify", j.str("title", title).str("primary", primary).str("secondary", secondary).str("text", text).done());
  return nullptr;
}

void* NotifyMessage(PurpleNotifyMsgType type, const char* title, const char* primary, const char* secondary) {
  return NotifyEvent("message", LevelName(type), title, primary, secondary, nullptr);
}

void* NotifyEmail(PurpleConnection*, const char* subject, const char* from, const char* to, const char* url) {
  return NotifyEvent("email", nullptr, subject, from, to, url);
}

void* NotifyFormatted(const char* title, const char* primary, const char* secondary, const char* text) {
  gchar* plain = purple_markup_strip_html(text);
  NotifyEvent("formatted", nullptr, title, primary, secondary, plain);
  g_free(plain);
  return nullptr;
}

void* NotifyUserinfo(PurpleConnection*, const char* who, PurpleNotifyUserInfo* info) {
  gchar* text = purple_notify_user_info_get_text_with_newline(info, "\n");
  gchar* plain = purple_markup_strip_html(text);
  NotifyEvent("userinfo", nullptr, who, nullptr, nullptr, plain);
  g_free(plain);
  g_free(text);
  return nullptr;
}

void* NotifyUri(const char* uri) { return NotifyEvent("uri", nullptr, nullptr, nullptr, nullptr, uri); }

void* NotifySearch(PurpleConnection*, const char* title, const char* primary, const char* secondary,
                   PurpleNotifySearchResults*, gpointer) {
  return NotifyEvent("other", nullptr, title, primary, secondary, nullptr);
}

PurpleNotifyUiOps notifyOps = {
    NotifyMessage, NotifyEmail, nullptr, NotifyFormatted, NotifySearch, nullptr,
    NotifyUserinfo, NotifyUri, nullptr, nullptr, nullptr, nullptr, nullptr,
};

// ---- requests ----

struct Request {
  uint32_t id;
  PurpleRequestType type;
  std::string kind;
  GCallback ok = nullptr;
  GCallback cancel = nullptr;
  std::vector<GCallback> actions;
  std::vector<int> choiceValues;
  PurpleRequestFields* fields = nullptr;
  void* data = nullptr;
};
std::map<uint32_t, Request*> requests;

Request* NewRequest(PurpleRequestType type, const char* kind, void* data) {
  auto* r = new Request;
  r->id = nextId++;
  r->type = type;
  r->kind = kind;
  r->data = data;
  requests[r->id] = r;
  return r;
}

Json Header(Request* r, const char* title, const char* primary, const char* secondary) {
  Json j;
  j.num("id", r->id).str("kind", r->kind).str("title", title).str("primary", primary).str("secondary", secondary);
  return j;
}

void* RequestInput(const char* title, const char* primary, const char* secondary, const char* defaultValue,
                   gboolean, gboolean, gchar*, const char*, GCallback ok, const char*, GCallback cancel,
                   PurpleAccount*, const char*, PurpleConversation*, void* data) {
  Request* r = NewRequest(PURPLE_REQUEST_INPUT, "input", data);
  r->ok = ok;
  r->cancel = cancel;
  Emit("request", Header(r, title, primary, secondary).str("defaultValue", defaultValue).done());
  return r;
}

void* RequestChoice(const char* title, const char* primary, const char* secondary, int, const char*, GCallback ok,
                    const char*, GCallback cancel, PurpleAccount*, const char*, PurpleConversation*, void* data,
                    va_list choices) {
  Request* r = NewRequest(PURPLE_REQUEST_CHOICE, "choice", data);
  r->ok = ok;
  r->cancel = cancel;
  std::vector<std::string> labels;
  while (const char* label = va_arg(choices, const char*)) {
    labels.push_back(label);
    r->choiceValues.push_back(va_arg(choices, int));
  }
  Emit("request", Header(r, title, primary, secondary).raw("choices", Json::array(labels)).done());
  return r;
}

void* RequestAction(const char* title, const char* primary, const char* secondary, int, PurpleAccount*, const char*,
                    PurpleConversation*, void* data, size_t count, va_list actions) {
  Request* r = NewRequest(PURPLE_REQUEST_ACTION, "action", data);
  std::vector<std::string> labels;
  for (size_t i = 0; i < count; i++) {
    const char* label = va_arg(actions, const char*);
    labels.push_back(label ? label : "");
    r->actions.push_back(va_arg(actions, GCallback));
  }
  Emit("request", Header(r, title, primary, secondary).raw("choices", Json::array(labels)).done());
  return r;
}

std::string FieldsJson(PurpleRequestFields* fields) {
  Json j;
  for (GList* g = purple_request_fields_get_groups(fields); g; g = g->next) {
    for (GList* f = purple_request_field_group_get_fields(static_cast<PurpleRequestFieldGroup*>(g->data)); f;
         f = f->next) {
      auto* field = static_cast<PurpleRequestField*>(f->data);
      const char* id = purple_request_field_get_id(field);
      switch (purple_request_field_get_type(field)) {
        case PURPLE_REQUEST_FIELD_STRING: j.str(id, purple_request_field_string_get_value(field)); break;
        case PURPLE_REQUEST_FIELD_INTEGER: j.num(id, purple_request_field_int_get_value(field)); break;
        case PURPLE_REQUEST_FIELD_BOOLEAN: j.boolean(id, purple_request_field_bool_get_value(field)); break;
        case PURPLE_REQUEST_FIELD_CHOICE: j.num(id, purple_request_field_choice_get_value(field)); break;
        default: j.null(id);
      }
    }
  }
  return j.done();
}

void* RequestFields(const char* title, const char* primary, const char* secondary, PurpleRequestFields* fields,
                    const char*, GCallback ok, const char*, GCallback cancel, PurpleAccount*, const char*,
                    PurpleConversation*, void* data) {
  Request* r = NewRequest(PURPLE_REQUEST_FIELDS, "fields", data);
  r->ok = ok;
  r->cancel = cancel;
  r->fields = fields;
  Emit("request", Header(r, title, primary, secondary).raw("fields", FieldsJson(fields)).done());
  return r;
}

gboolean AnswerFileLater(gpointer p);

void* RequestFile(const char* title, const char* filename, gboolean, GCallback ok, GCallback cancel, PurpleAccount*,
                  const char*, PurpleConversation*, void* data) {
  Request* r = NewRequest(PURPLE_REQUEST_FILE, "file", data);
  r->ok = ok;
  r->cancel = cancel;
  Emit("request", Header(r, title, nullptr, nullptr).str("defaultValue", filename).done());
  // A transfer accepted with acceptFile(id, dest) already knows where to go. Answered from an
  // idle callback: libpurple has not registered this request yet while we are inside its call.
  if (XferDestinationFor(static_cast<PurpleXfer*>(data)) != nullptr) {
    g_idle_add(AnswerFileLater, GUINT_TO_POINTER(r->id));
  }
  return r;
}

void* RequestFolder(const char* title, const char* dirname, GCallback ok, GCallback cancel, PurpleAccount*,
                    const char*, PurpleConversation*, void* data) {
  Request* r = NewRequest(PURPLE_REQUEST_FOLDER, "folder", data);
  r->ok = ok;
  r->cancel = cancel;
  Emit("request", Header(r, title, nullptr, nullptr).str("defaultValue", dirname).done());
  return r;
}

void CloseRequest(PurpleRequestType, void* handle) {
  for (auto it = requests.begin(); it != requests.end(); ++it) {
    if (it->second != handle) continue;
    uint32_t id = it->first;
    // The UI owns a fields request's fields once asked (Pidgin frees them on close too).
    if (it->second->fields != nullptr) purple_request_fields_destroy(it->second->fields);
    delete it->second;
    requests.erase(it);
    Emit("request-closed", Json().num("id", id).done());
    return;
  }
}

PurpleRequestUiOps requestOps = {
    RequestInput, RequestChoice, RequestAction, RequestFields, RequestFile, CloseRequest, RequestFolder,
    nullptr, nullptr, nullptr, nullptr,
};

// Sets the answered values; an error text when the answer does not fit the fields.
std::string FillFields(PurpleRequestFields* fields, Napi::Object answer) {
  Napi::Array keys = answer.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); i++) {
    std::string id = keys.Get(i).As<Napi::String>().Utf8Value();
    Napi::Value v = answer.Get(id);
    PurpleRequestField* field = purple_request_fields_get_field(fields, id.c_str());
    if (field == nullptr) return "no field \"" + id + "\" in this request";
    switch (purple_request_field_get_type(field)) {
      case PURPLE_REQUEST_FIELD_STRING:
        if (!v.IsString()) return "field \"" + id + "\" takes a string";
        purple_request_field_string_set_value(field, v.As<Napi::String>().Utf8Value().c_str());
        break;
      case PURPLE_REQUEST_FIELD_INTEGER:
        if (!v.IsNumber()) return "field \"" + id + "\" takes a number";
        purple_request_field_int_set_value(field, v.As<Napi::Number>().Int32Value());
        break;
      case PURPLE_REQUEST_FIELD_BOOLEAN:
        if (!v.IsBoolean()) return "field \"" + id + "\" takes a boolean";
        purple_request_field_bool_set_value(field, v.As<Napi::Boolean>().Value());
        break;
      case PURPLE_REQUEST_FIELD_CHOICE:
        if (!v.IsNumber()) return "field \"" + id + "\" takes a choice index";
        purple_request_field_choice_set_value(field, v.As<Napi::Number>().Int32Value());
        break;
      default:
        return "field \"" + id + "\" cannot be set by the bridge";
    }
  }
  return "";
}

// Calls the request's callback; the request may be closed by it.
void Invoke(Request* r, bool cancelled, const char* text, int index) {
  void* data = r->data;
  if (r->kind == "action") {
    if (!cancelled && r->actions[index] != nullptr) reinterpret_cast<PurpleRequestActionCb>(r->actions[index])(data, index);
    return;
  }
  GCallback cb = cancelled ? r->cancel : r->ok;
  if (cb == nullptr) return;
  if (r->kind == "input") reinterpret_cast<PurpleRequestInputCb>(cb)(data, text);
  else if (r->kind == "choice") reinterpret_cast<PurpleRequestChoiceCb>(cb)(data, cancelled ? index : r->choiceValues[index]);
  else if (r->kind == "fields") reinterpret_cast<PurpleRequestFieldsCb>(cb)(data, r->fields);
  else reinterpret_cast<PurpleRequestFileCb>(cb)(data, cancelled ? nullptr : text);
}

}  // namespace

void FinishRequest(uint32_t id, bool cancelled, const char* text, int index) {
  auto found = requests.find(id);
  if (found == requests.end()) return;
  Request* r = found->second;
  PurpleRequestType type = r->type;
  Invoke(r, cancelled, text, index);
  // Closing is the UI's job once it called back (as Pidgin's dialogs do).
  auto it = requests.find(id);
  if (it != requests.end()) purple_request_close(type, it->second);
}

namespace {

gboolean AnswerFileLater(gpointer p) {
  uint32_t id = GPOINTER_TO_UINT(p);
  auto it = requests.find(id);
  if (it == requests.end()) return FALSE;
  const char* dest = XferDestinationFor(static_cast<PurpleXfer*>(it->second->data));
  if (dest != nullptr) FinishRequest(id, false, dest, 0);
  return FALSE;
}

}  // namespace

void InstallUiOps() {
  purple_accounts_set_ui_ops(&accountOps);
  purple_notify_set_ui_ops(&notifyOps);
  purple_request_set_ui_ops(&requestOps);
}

bool RespondAuthorization(uint32_t id, bool accept) {
  auto it = auths.find(id);
  if (it == auths.end()) return false;
  Auth* auth = it->second;
  auths.erase(it);
  // libpurple does not close the request after answering, so no "request-closed" here.
  (accept ? auth->accept : auth->deny)(auth->data);
  delete auth;
  return true;
}

std::string AnswerRequest(Napi::Value answer, uint32_t id) {
  auto it = requests.find(id);
  if (it == requests.end()) return "no such request: " + std::to_string(id);
  Request* r = it->second;
  if (answer.IsNull() || answer.IsUndefined()) {
    FinishRequest(id, true, nullptr, 0);
    return "";
  }
  if (r->kind == "input" || r->kind == "file" || r->kind == "folder") {
    if (!answer.IsString()) return "TypeError:a " + r->kind + " request is answered with a string";
    std::string text = answer.As<Napi::String>().Utf8Value();
    FinishRequest(id, false, text.c_str(), 0);
    return "";
  }
  if (r->kind == "choice" || r->kind == "action") {
    size_t n = r->kind == "choice" ? r->choiceValues.size() : r->actions.size();
    if (!answer.IsNumber()) return "TypeError:a " + r->kind + " request is answered with the index of a choice";
    int64_t index = answer.As<Napi::Number>().Int64Value();
    if (index < 0 || static_cast<size_t>(index) >= n) return "TypeError:choice index out of range (0.." + std::to_string(n) + ")";
    FinishRequest(id, false, nullptr, static_cast<int>(index));
    return "";
  }
  if (!answer.IsObject()) return "TypeError:a fields request is answered with an object (field id → value)";
  std::string error = FillFields(r->fields, answer.As<Napi::Object>());
  if (!error.empty()) return "TypeError:" + error;
  FinishRequest(id, false, nullptr, 0);
  return "";
}

void CloseAllRequests() {
  for (auto& [id, auth] : auths) delete auth;
  auths.clear();
  for (auto& [id, r] : requests) delete r;
  requests.clear();
}

uint32_t FindRequestFor(void* data, bool* isFile) {
  for (auto& [id, r] : requests) {
    if (r->data != data) continue;
    *isFile = r->kind == "file";
    return id;
  }
  return 0;
}

}  // namespace bridge

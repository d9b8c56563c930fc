// libpurple → JS. Signals and UI ops fire inside a GLib dispatch (or inside a JS → libpurple
// call); calling JS there would let JS re-enter libpurple half-way through a callback. A
// threadsafe function queues the event instead, even though we are on the Node thread.
#include "bridge.h"

#include <cstdio>

namespace bridge {

namespace {

struct Event {
  std::string name;
  std::string json;
};

void CallJs(Napi::Env env, Napi::Function fn, std::nullptr_t*, Event* event) {
  if (env != nullptr && fn != nullptr) {
    fn.Call({Napi::String::New(env, event->name), Napi::String::New(env, event->json)});
  }
  delete event;
}

using Tsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Event, CallJs>;
Tsfn tsfn;
bool live = false;

}  // namespace

void EventsStart(Napi::Env env, Napi::Function emit) {
  tsfn = Tsfn::New(env, emit, "purple-bridge-events", 0, 1);
  // Events alone must not keep the process alive: the pump's handles decide that.
  tsfn.Unref(env);
  live = true;
}

void EventsStop() {
  if (!live) return;
  live = false;
  tsfn.Release();
}

void Emit(const char* name, const std::string& json) {
  if (!live) return;
  auto* event = new Event{name, json};
  if (tsfn.NonBlockingCall(event) != napi_ok) {
    std::fprintf(stderr, "purple_bridge: dropped event %s\n", name);
    delete event;
  }
}

// ---- Json ----

std::string Json::quote(const char* s) {
  if (s == nullptr) return "null";
  // libpurple hands out what the network sent; JSON.parse must never choke on it.
  gchar* valid = g_utf8_make_valid(s, -1);
  std::string out = "\"";
  for (const unsigned char* p = reinterpret_cast<const unsigned char*>(valid); *p; p++) {
    switch (*p) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (*p < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", *p);
          out += buf;
        } else {
          out += static_cast<char>(*p);
        }
    }
  }
  g_free(valid);
  return out + "\"";
}

std::string Json::array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); i++) out += (i ? "," : "") + quote(items[i].c_str());
  return out + "]";
}

void Json::key(const char* k) {
  if (body_.size() > 1) body_ += ",";
  body_ += quote(k) + ":";
}

Json& Json::str(const char* k, const char* value) {
  key(k);
  body_ += quote(value);
  return *this;
}

Json& Json::num(const char* k, double value) {
  key(k);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  body_ += buf;
  return *this;
}

Json& Json::boolean(const char* k, bool value) {
  key(k);
  body_ += value ? "true" : "false";
  return *this;
}

Json& Json::null(const char* k) {
  key(k);
  body_ += "null";
  return *this;
}

Json& Json::raw(const char* k, const std::string& json) {
  key(k);
  body_ += json;
  return *this;
}

Json& Json::account(PurpleAccount* account) {
  std::string ref = Json()
                        .str("username", purple_account_get_username(account))
                        .str("protocol", purple_account_get_protocol_id(account))
                        .done();
  return raw("account", ref);
}

}  // namespace bridge

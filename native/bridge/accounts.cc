// The JS-facing functions about accounts and what they do: settings, IMs, buddies, chats,
// answers to authorization requests and dialogs, file transfers.
#include "api.h"

#include <algorithm>

namespace bridge {

namespace {

const char* kDefaultProtocol = "prpl-jabber";

bool ArgRef(const Napi::CallbackInfo& info, size_t i, std::string* username, std::string* protocol) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsObject()) {
    ThrowType(env, "account must be an object { username, protocol? }");
    return false;
  }
  Napi::Object ref = info[i].As<Napi::Object>();
  Napi::Value u = ref.Get("username");
  Napi::Value p = ref.Get("protocol");
  if (!u.IsString() || u.As<Napi::String>().Utf8Value().empty()) {
    ThrowType(env, "account.username must be a non-empty string");
    return false;
  }
  if (!p.IsUndefined() && !p.IsNull() && !p.IsString()) {
    ThrowType(env, "account.protocol must be a string");
    return false;
  }
  *username = u.As<Napi::String>().Utf8Value();
  *protocol = p.IsString() ? p.As<Napi::String>().Utf8Value() : kDefaultProtocol;
  return true;
}

const char* StateName(PurpleAccount* account) {
  if (purple_account_is_connected(account)) return "connected";
  if (purple_account_is_connecting(account)) return "connecting";
  return "disconnected";
}

Napi::Value Accounts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return Napi::Value();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (GList* l = purple_accounts_get_all(); l; l = l->next) out.Set(n++, AccountInfo(env, static_cast<PurpleAccount*>(l->data)));
  return out;
}

Napi::Value AddAccount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string username, protocol;
  if (!RequireOpen(env) || !ArgRef(info, 0, &username, &protocol)) return Napi::Value();
  if (purple_find_prpl(protocol.c_str()) == nullptr) {
    return ThrowError(env, "unknown protocol: " + protocol + " (its plugin is missing or failed to load; debug: true tells why)");
  }
  if (purple_accounts_find(username.c_str(), protocol.c_str()) != nullptr) {
    return ThrowError(env, "account exists: " + username + " (" + protocol + ")");
  }
  PurpleAccount* account = purple_account_new(username.c_str(), protocol.c_str());
  purple_accounts_add(account);
  return AccountInfo(env, account);
}

Napi::Value RemoveAccount(const Napi::CallbackInfo& info) {
  if (!RequireOpen(info.Env())) return Napi::Value();
  PurpleAccount* account = ArgAccount(info, 0);
  if (account == nullptr) return Napi::Value();
  purple_accounts_delete(account);
  return info.Env().Undefined();
}

Napi::Value GetSetting(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name, type;
  if (!RequireOpen(env)) return Napi::Value();
  PurpleAccount* account = ArgAccount(info, 0);
  if (account == nullptr || !ArgString(info, 1, "setting name", &name) || !ArgString(info, 2, "type", &type)) return Napi::Value();
  if (type != "string" && type != "int" && type != "bool") return ThrowType(env, "type must be \"string\", \"int\" or \"bool\"");
  // The settings table is public in libpurple 2.x; the typed getters cannot say "unset".
  if (!g_hash_table_contains(account->settings, name.c_str())) return env.Null();
  if (type == "int") return Napi::Number::New(env, purple_account_get_int(account, name.c_str(), 0));
  if (type == "bool") return Napi::Boolean::New(env, purple_account_get_bool(account, name.c_str(), FALSE));
  const char* v = purple_account_get_string(account, name.c_str(), nullptr);
  return v ? Napi::Value(Napi::String::New(env, v)) : env.Null();
}

Napi::Value SetSetting(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!RequireOpen(env)) return Napi::Value();
  PurpleAccount* account = ArgAccount(info, 0);
  if (account == nullptr || !ArgString(info, 1, "setting name", &name)) return Napi::Value();
  Napi::Value v = info.Length() > 2 ? info[2] : env.Undefined();
  if (v.IsString()) {
    purple_account_set_string(account, name.c_str(), v.As<Napi::String>().Utf8Value().c_str());
  } else if (v.IsBoolean()) {
    purple_account_set_bool(account, name.c_str(), v.As<Napi::Boolean>().Value());
  } else if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (d != static_cast<double>(static_cast<int>(d))) return ThrowType(env, "setting " + name + ": numbers must be integers");
    purple_account_set_int(account, name.c_str(), static_cast<int>(d));
  } else {
    return ThrowType(env, "setting " + name + ": value must be a string, an integer or a boolean");
  }
  return env.Undefined();
}

Napi::Value SetPassword(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string password;
  if (!RequireOpen(env)) return Napi::Value();
  PurpleAccount* account = ArgAccount(info, 0);
  if (account == nullptr || !ArgString(info, 1, "password", &password)) return Napi::Value();
  bool remember = info.Length() < 3 || info[2].IsUndefined() || info[2].ToBoolean().Value();
  purple_account_set_remember_password(account, remember);
  purple_account_set_password(account, password.c_str());
  return env.Undefined();
}

// What Pidgin's account editor does when the user edits the username or resource field.
Napi::Value SetUsername(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string username;
  if (!RequireOpen(env)) return Napi::Value();
  PurpleAccount* account = ArgAccount(info, 0);
  if (account == nullptr || !ArgString(info, 1, "username", &username)) return Napi::Value();
  purple_account_set_username(account, username.c_str());
  return env.Undefined();
}

Napi::Value SetEnabled(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return Napi::Value();
  PurpleAccount* account = ArgAccount(info, 0);
  if (account == nullptr) return Napi::Value();
  if (info.Length() < 2 || !info[1].IsBoolean()) return ThrowType(env, "enabled must be a boolean");
  purple_account_set_enabled(account, state().ui.c_str(), info[1].As<Napi::Boolean>().Value());
  return env.Undefined();
}

Napi::Value SendIm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string to, text;
  PurpleAccount* account = nullptr;
  if (!RequireOpen(env) || ArgConnection(info, 0, &account) == nullptr) return Napi::Value();
  if (!ArgString(info, 1, "to", &to) || !ArgString(info, 2, "text", &text)) return Napi::Value();
  // Through a conversation, as a UI sends: plugins see sending-im-msg / sent-im-msg.
  PurpleConversation* conv = purple_find_conversation_with_account(PURPLE_CONV_TYPE_IM, to.c_str(), account);
  if (conv == nullptr) conv = purple_conversation_new(PURPLE_CONV_TYPE_IM, account, to.c_str());
  gchar* escaped = purple_markup_escape_text(text.c_str(), -1);
  purple_conv_im_send(PURPLE_CONV_IM(conv), escaped);
  g_free(escaped);
  return env.Undefined();
}

Napi::Value AddBuddy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string who, alias, groupName = "Buddies";
  bool hasAlias = false;
  if (!RequireOpen(env)) return Napi::Value();
  PurpleAccount* account = ArgAccount(info, 0);
  if (account == nullptr || !ArgString(info, 1, "who", &who) || !ArgOptString(info, 2, "alias", &alias, &hasAlias) ||
      !ArgOptString(info, 3, "group", &groupName)) {
    return Napi::Value();
  }
  PurpleGroup* group = purple_find_group(groupName.c_str());
  if (group == nullptr) {
    group = purple_group_new(groupName.c_str());
    purple_blist_add_group(group, nullptr);
  }
  PurpleBuddy* buddy = purple_find_buddy_in_group(account, who.c_str(), group);
  if (buddy == nullptr) {
    buddy = purple_buddy_new(account, who.c_str(), hasAlias ? alias.c_str() : nullptr);
    purple_blist_add_buddy(buddy, nullptr, group, nullptr);
  }
  // Tells the server (roster push + subscription request) when connected.
  purple_account_add_buddy(account, buddy);
  return env.Undefined();
}

Napi::Value Buddies(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return Napi::Value();
  PurpleAccount* account = ArgAccount(info, 0);
  if (account == nullptr) return Napi::Value();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  GSList* list = purple_find_buddies(account, nullptr);
  for (GSList* l = list; l; l = l->next) {
    auto* b = static_cast<PurpleBuddy*>(l->data);
    Napi::Object o = Napi::Object::New(env);
    const char* alias = purple_buddy_get_alias_only(b);
    PurpleGroup* g = purple_buddy_get_group(b);
    o.Set("name", purple_buddy_get_name(b));
    o.Set("alias", alias ? Napi::Value(Napi::String::New(env, alias)) : env.Null());
    o.Set("group", g ? Napi::Value(Napi::String::New(env, purple_group_get_name(g))) : env.Null());
    o.Set("online", Napi::Boolean::New(env, PURPLE_BUDDY_IS_ONLINE(b)));
    out.Set(n++, o);
  }
  g_slist_free(list);
  return out;
}

Napi::Value RespondAuthorizationJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id;
  if (!RequireOpen(env) || !ArgId(info, 0, "id", &id)) return Napi::Value();
  if (info.Length() < 2 || !info[1].IsBoolean()) return ThrowType(env, "accept must be a boolean");
  if (!RespondAuthorization(id, info[1].As<Napi::Boolean>().Value())) {
    return ThrowError(env, "no such authorization request: " + std::to_string(id));
  }
  return env.Undefined();
}

Napi::Value AnswerRequestJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id;
  if (!RequireOpen(env) || !ArgId(info, 0, "id", &id)) return Napi::Value();
  std::string error = AnswerRequest(info.Length() > 1 ? info[1] : env.Undefined(), id);
  if (!error.empty()) return ThrowText(env, error);
  return env.Undefined();
}

Napi::Value JoinChat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string room, nick;
  PurpleAccount* account = nullptr;
  if (!RequireOpen(env)) return Napi::Value();
  PurpleConnection* gc = ArgConnection(info, 0, &account);
  if (gc == nullptr || !ArgString(info, 1, "room", &room) || !ArgOptString(info, 2, "nick", &nick)) return Napi::Value();
  PurplePluginProtocolInfo* prpl = PURPLE_PLUGIN_PROTOCOL_INFO(purple_connection_get_prpl(gc));
  if (prpl->chat_info_defaults == nullptr) return ThrowError(env, std::string("protocol ") + purple_account_get_protocol_id(account) + " has no chats");
  GHashTable* components = prpl->chat_info_defaults(gc, room.c_str());
  if (!nick.empty()) {
    // Keeps the table's own key: prpls differ in whether they free keys.
    gpointer key = nullptr;
    if (g_hash_table_lookup_extended(components, "handle", &key, nullptr)) {
      g_hash_table_insert(components, key, g_strdup(nick.c_str()));
    }
  }
  serv_join_chat(gc, components);
  g_hash_table_destroy(components);
  return env.Undefined();
}

// `inRoom`: also refuse a chat the room has ended (kick, room gone, disconnection), which
// libpurple keeps open with its last occupants until it is closed.
PurpleConversation* ArgChat(const Napi::CallbackInfo& info, PurpleAccount* account, bool inRoom = false) {
  std::string room;
  if (!ArgString(info, 1, "room", &room)) return nullptr;
  PurpleConversation* conv = purple_find_conversation_with_account(PURPLE_CONV_TYPE_CHAT, room.c_str(), account);
  if (conv == nullptr || (inRoom && purple_conv_chat_has_left(PURPLE_CONV_CHAT(conv)))) {
    ThrowError(info.Env(), "not in chat room " + room);
    return nullptr;
  }
  return conv;
}

Napi::Value SendChat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string text;
  PurpleAccount* account = nullptr;
  if (!RequireOpen(env) || ArgConnection(info, 0, &account) == nullptr) return Napi::Value();
  PurpleConversation* conv = ArgChat(info, account);
  if (conv == nullptr || !ArgString(info, 2, "text", &text)) return Napi::Value();
  gchar* escaped = purple_markup_escape_text(text.c_str(), -1);
  purple_conv_chat_send(PURPLE_CONV_CHAT(conv), escaped);
  g_free(escaped);
  return env.Undefined();
}

Napi::Value ChatUsers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return Napi::Value();
  PurpleAccount* account = ArgAccount(info, 0);
  if (account == nullptr) return Napi::Value();
  PurpleConversation* conv = ArgChat(info, account, true);
  if (conv == nullptr) return Napi::Value();
  std::vector<std::string> nicks;
  for (GList* l = purple_conv_chat_get_users(PURPLE_CONV_CHAT(conv)); l; l = l->next) {
    nicks.push_back(purple_conv_chat_cb_get_name(static_cast<PurpleConvChatBuddy*>(l->data)));
  }
  // libpurple keeps them in arrival order, newest first: sorted, the answer does not depend on timing.
  std::sort(nicks.begin(), nicks.end());
  Napi::Array out = Napi::Array::New(env, nicks.size());
  for (uint32_t i = 0; i < nicks.size(); i++) out.Set(i, Napi::String::New(env, nicks[i]));
  return out;
}

Napi::Value LeaveChat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!RequireOpen(env)) return Napi::Value();
  PurpleAccount* account = ArgAccount(info, 0);
  if (account == nullptr) return Napi::Value();
  PurpleConversation* conv = ArgChat(info, account);
  if (conv == nullptr) return Napi::Value();
  // Destroying a chat conversation leaves the room (serv_chat_leave) first.
  purple_conversation_destroy(conv);
  return env.Undefined();
}

Napi::Value SendFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string who, path;
  if (!RequireOpen(env)) return Napi::Value();
  PurpleConnection* gc = ArgConnection(info, 0);
  if (gc == nullptr || !ArgString(info, 1, "who", &who) || !ArgString(info, 2, "filePath", &path)) return Napi::Value();
  if (!g_file_test(path.c_str(), G_FILE_TEST_IS_REGULAR)) return ThrowError(env, "cannot send " + path + ": no such file");
  serv_send_file(gc, who.c_str(), path.c_str());
  return env.Undefined();
}

Napi::Value AcceptFileJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id;
  std::string dest;
  bool hasDest = false;
  if (!RequireOpen(env) || !ArgId(info, 0, "id", &id) || !ArgOptString(info, 1, "destPath", &dest, &hasDest)) return Napi::Value();
  std::string error = AcceptFile(id, hasDest ? dest.c_str() : nullptr);
  if (!error.empty()) return ThrowText(env, error);
  return env.Undefined();
}

}  // namespace

PurpleAccount* ArgAccount(const Napi::CallbackInfo& info, size_t i) {
  std::string username, protocol;
  if (!ArgRef(info, i, &username, &protocol)) return nullptr;
  PurpleAccount* account = purple_accounts_find(username.c_str(), protocol.c_str());
  if (account == nullptr) ThrowError(info.Env(), "no such account: " + username + " (" + protocol + ")");
  return account;
}

PurpleConnection* ArgConnection(const Napi::CallbackInfo& info, size_t i, PurpleAccount** out) {
  PurpleAccount* account = ArgAccount(info, i);
  if (account == nullptr) return nullptr;
  if (out) *out = account;
  PurpleConnection* gc = purple_account_get_connection(account);
  if (gc == nullptr || !purple_account_is_connected(account)) {
    ThrowError(info.Env(), std::string("account ") + purple_account_get_username(account) + " is not connected");
    return nullptr;
  }
  return gc;
}

Napi::Object AccountInfo(Napi::Env env, PurpleAccount* account) {
  Napi::Object o = Napi::Object::New(env);
  const char* alias = purple_account_get_alias(account);
  o.Set("username", purple_account_get_username(account));
  o.Set("protocol", purple_account_get_protocol_id(account));
  o.Set("alias", alias ? Napi::Value(Napi::String::New(env, alias)) : env.Null());
  o.Set("enabled", Napi::Boolean::New(env, purple_account_get_enabled(account, state().ui.c_str())));
  o.Set("state", StateName(account));
  return o;
}

void ExportAccountFunctions(Napi::Env env, Napi::Object exports) {
  Export<Accounts>(env, exports, "accounts");
  Export<AddAccount>(env, exports, "addAccount");
  Export<RemoveAccount>(env, exports, "removeAccount");
  Export<GetSetting>(env, exports, "getSetting");
  Export<SetSetting>(env, exports, "setSetting");
  Export<SetPassword>(env, exports, "setPassword");
  Export<SetUsername>(env, exports, "setUsername");
  Export<SetEnabled>(env, exports, "setEnabled");
  Export<SendIm>(env, exports, "sendIm");
  Export<AddBuddy>(env, exports, "addBuddy");
  Export<Buddies>(env, exports, "buddies");
  Export<RespondAuthorizationJs>(env, exports, "respondAuthorization");
  Export<AnswerRequestJs>(env, exports, "answerRequest");
  Export<JoinChat>(env, exports, "joinChat");
  Export<SendChat>(env, exports, "sendChat");
  Export<ChatUsers>(env, exports, "chatUsers");
  Export<LeaveChat>(env, exports, "leaveChat");
  Export<SendFile>(env, exports, "sendFile");
  Export<AcceptFileJs>(env, exports, "acceptFile");
}

}  // namespace bridge

// libpurple signals → JS events (events.cc queues them; JS sees them after the dispatch).
#include "bridge.h"

namespace bridge {

namespace {

int handle;

void AccountEvent(PurpleAccount* account, gpointer name) {
  Emit(static_cast<const char*>(name), Json().account(account).done());
}

void ConnectionEvent(PurpleConnection* gc, gpointer name) {
  Emit(static_cast<const char*>(name), Json().account(purple_connection_get_account(gc)).done());
}

void ConnectionError(PurpleConnection* gc, PurpleConnectionError reason, const char* description) {
  Emit("connection-error", Json()
                               .account(purple_connection_get_account(gc))
                               .num("reason", reason)
                               .str("description", description)
                               .done());
}

void BuddyEvent(PurpleBuddy* buddy, gpointer name) {
  Emit(static_cast<const char*>(name),
       Json().account(purple_buddy_get_account(buddy)).str("buddy", purple_buddy_get_name(buddy)).done());
}

void ReceivedIm(PurpleAccount* account, const char* who, const char* message, PurpleConversation*, guint flags) {
  gchar* text = purple_markup_strip_html(message);
  Emit("received-im", Json().account(account).str("who", who).str("text", text).num("flags", flags).done());
  g_free(text);
}

void SentIm(PurpleAccount* account, const char* to, const char* message) {
  gchar* text = purple_markup_strip_html(message);
  Emit("sent-im", Json().account(account).str("to", to).str("text", text).done());
  g_free(text);
}

void ReceivedChat(PurpleAccount* account, const char* who, const char* message, PurpleConversation* conv, guint) {
  gchar* text = purple_markup_strip_html(message);
  Emit("received-chat", Json()
                            .account(account)
                            .str("room", purple_conversation_get_name(conv))
                            .str("who", who)
                            .str("text", text)
                            .done());
  g_free(text);
}

void ChatEvent(PurpleConversation* conv, gpointer name) {
  Emit(static_cast<const char*>(name),
       Json().account(purple_conversation_get_account(conv)).str("room", purple_conversation_get_name(conv)).done());
}

// `name` is the occupant's nick (for XMPP the resource of its room JID). new_arrival is FALSE for
// those already in the room when we joined, our own nick included, so that a listener can tell
// the roll call at our join from someone arriving.
void ChatUserJoined(PurpleConversation* conv, const char* name, PurpleConvChatBuddyFlags, gboolean new_arrival) {
  Emit("chat-user-joined", Json()
                               .account(purple_conversation_get_account(conv))
                               .str("room", purple_conversation_get_name(conv))
                               .str("nick", name)
                               .boolean("newArrival", new_arrival)
                               .done());
}

// The reason is free text (the occupant's status, a moderator's kick message) nobody needs yet.
void ChatUserLeft(PurpleConversation* conv, const char* name, const char*) {
  Emit("chat-user-left", Json()
                             .account(purple_conversation_get_account(conv))
                             .str("room", purple_conversation_get_name(conv))
                             .str("nick", name)
                             .done());
}

// Closing a chat the room has not already ended leaves it, but libpurple signals chat-left only
// when the protocol reports a departure (kick, room gone), never for a conversation closed by us.
void DeletingConversation(PurpleConversation* conv) {
  if (purple_conversation_get_type(conv) != PURPLE_CONV_TYPE_CHAT) return;
  if (purple_conv_chat_has_left(PURPLE_CONV_CHAT(conv))) return;
  ChatEvent(conv, const_cast<char*>("chat-left"));
}

void On(void* instance, const char* signal, PurpleCallback cb, const char* event) {
  purple_signal_connect(instance, signal, &handle, cb, const_cast<char*>(event));
}

}  // namespace

void* SignalHandle() { return &handle; }

void ConnectSignals() {
  void* accounts = purple_accounts_get_handle();
  On(accounts, "account-added", PURPLE_CALLBACK(AccountEvent), "account-added");
  On(accounts, "account-removed", PURPLE_CALLBACK(AccountEvent), "account-removed");
  On(accounts, "account-enabled", PURPLE_CALLBACK(AccountEvent), "account-enabled");
  On(accounts, "account-disabled", PURPLE_CALLBACK(AccountEvent), "account-disabled");
  On(accounts, "account-connecting", PURPLE_CALLBACK(AccountEvent), "account-connecting");
  void* connections = purple_connections_get_handle();
  On(connections, "signed-on", PURPLE_CALLBACK(ConnectionEvent), "signed-on");
  On(connections, "signed-off", PURPLE_CALLBACK(ConnectionEvent), "signed-off");
  On(connections, "connection-error", PURPLE_CALLBACK(ConnectionError), nullptr);
  void* blist = purple_blist_get_handle();
  On(blist, "buddy-signed-on", PURPLE_CALLBACK(BuddyEvent), "buddy-signed-on");
  On(blist, "buddy-signed-off", PURPLE_CALLBACK(BuddyEvent), "buddy-signed-off");
  On(blist, "buddy-added", PURPLE_CALLBACK(BuddyEvent), "buddy-added");
  void* convs = purple_conversations_get_handle();
  On(convs, "received-im-msg", PURPLE_CALLBACK(ReceivedIm), nullptr);
  On(convs, "sent-im-msg", PURPLE_CALLBACK(SentIm), nullptr);
  On(convs, "received-chat-msg", PURPLE_CALLBACK(ReceivedChat), nullptr);
  On(convs, "chat-joined", PURPLE_CALLBACK(ChatEvent), "chat-joined");
  On(convs, "chat-left", PURPLE_CALLBACK(ChatEvent), "chat-left");
  On(convs, "chat-buddy-joined", PURPLE_CALLBACK(ChatUserJoined), nullptr);
  On(convs, "chat-buddy-left", PURPLE_CALLBACK(ChatUserLeft), nullptr);
  On(convs, "deleting-conversation", PURPLE_CALLBACK(DeletingConversation), nullptr);
  XferConnectSignals(&handle);
}

void DisconnectSignals() { purple_signals_disconnect_by_handle(&handle); }

}  // namespace bridge

/* A companion's presence says "available", not for how long the user has been away, and
 * offers no voice or video: libpurple puts XEP-0256 <query xmlns='jabber:iq:last' seconds=…/>
 * in every presence while idle and the Google Talk caps extensions (ext="voice-v1 …") when media
 * is available (presence.c jabber_presence_create_js); both go from what a companion sends
 * (jabber-sending-xmlnode, rewritten in place: prpl-jabber's own handler, at the highest
 * priority, sends whatever is left), XEP-0319 <idle/> too should a libpurple ever send it.
 * share_idle keeps the idle time.
 * Coming in: XEP-0084 avatar metadata whose <info/> has a url would make libpurple fetch that
 * URL itself (useravatar.c update_buddy_metadata → purple_util_fetch_url_len: DNS and a direct
 * HTTP connection to wherever the contact points); such <info/> elements go before libpurple
 * reads the event, so only avatars published in pubsub are fetched, through the servers. */
#include "po.h"
#include <debug.h>

#define NS_LAST "jabber:iq:last"
#define NS_IDLE "urn:xmpp:idle:1"
#define NS_CAPS "http://jabber.org/protocol/caps"
#define NS_PUBSUB_EVENT "http://jabber.org/protocol/pubsub#event"
#define NS_AVATAR_METADATA "urn:xmpp:avatar:metadata"

static void remove_children(xmlnode *parent, const char *name, const char *ns) {
  xmlnode *c;
  while ((c = xmlnode_get_child_with_namespace(parent, name, ns)) != NULL) xmlnode_free(c);
}

static void sending_xmlnode(PurpleConnection *gc, xmlnode **packet, gpointer unused) {
  if (packet == NULL || *packet == NULL || !po_connection_is_companion(gc)) return;
  xmlnode *node = *packet;
  if (g_strcmp0(node->name, "presence") != 0) return;
  if (!po_share_idle()) {
    remove_children(node, "query", NS_LAST);
    remove_children(node, "idle", NS_IDLE);
  }
  xmlnode *c = xmlnode_get_child_with_namespace(node, "c", NS_CAPS);
  if (c) xmlnode_remove_attrib(c, "ext");
}

/* <message><event xmlns=pubsub#event><items node=urn:xmpp:avatar:metadata><item><metadata><info url=…/> */
static void strip_avatar_urls(xmlnode *message) {
  xmlnode *event = xmlnode_get_child_with_namespace(message, "event", NS_PUBSUB_EVENT);
  if (event == NULL) return;
  for (xmlnode *items = xmlnode_get_child(event, "items"); items; items = xmlnode_get_next_twin(items)) {
    if (g_strcmp0(xmlnode_get_attrib(items, "node"), NS_AVATAR_METADATA) != 0) continue;
    for (xmlnode *item = xmlnode_get_child(items, "item"); item; item = xmlnode_get_next_twin(item)) {
      xmlnode *metadata = xmlnode_get_child_with_namespace(item, "metadata", NS_AVATAR_METADATA);
      if (metadata == NULL) continue;
      xmlnode *info = xmlnode_get_child(metadata, "info");
      while (info) {
        xmlnode *next = xmlnode_get_next_twin(info);
        if (xmlnode_get_attrib(info, "url")) {
          purple_debug_info(PO_PLUGIN_ID, "dropping an avatar URL sent to an onion account\n");
          xmlnode_free(info);
        }
        info = next;
      }
    }
  }
}

static void receiving_xmlnode(PurpleConnection *gc, xmlnode **packet, gpointer unused) {
  if (packet == NULL || *packet == NULL || !po_connection_is_companion(gc)) return;
  if (g_strcmp0((*packet)->name, "message") == 0) strip_avatar_urls(*packet);
}

void po_privacy_presence_start(void) {
  PurplePlugin *jabber = purple_plugins_find_with_id(PO_JABBER);
  if (jabber == NULL) return;
  purple_signal_connect(jabber, "jabber-sending-xmlnode", po_plugin, PURPLE_CALLBACK(sending_xmlnode), NULL);
  purple_signal_connect(jabber, "jabber-receiving-xmlnode", po_plugin, PURPLE_CALLBACK(receiving_xmlnode), NULL);
}

/* Requests to a companion that would tell a contact what the onion must not: its clock
 * (XEP-0202 urn:xmpp:time, legacy jabber:iq:time), how long the user has been idle (XEP-0012
 * jabber:iq:last, unless share_idle), which software and version runs it (XEP-0092: libpurple
 * answers "<ui> (libpurple 2.x.y)", iq.c jabber_iq_version_parse); and requests that would make
 * libpurple open connections of its own: XEP-0066 jabber:iq:oob (oob.c fetches the URL the
 * contact sent, resolving its host in DNS), Jingle and Google sessions (UDP, STUN, relays), and
 * disco#info of the Google Talk caps extensions (disco.c answers voice/video features for them).
 * Each is answered here, raw on the companion's stream, and never reaches libpurple
 * (jabber-receiving-xmlnode, *packet = NULL: the parser frees only what is left). */
#include "po.h"
#include <string.h>
#include <debug.h>

#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define VERSION_NAME "purple-onion"
/* The same for every user and release: a release number would split users into smaller groups. */
#define VERSION_VERSION "0"

typedef struct {
  const char *child, *ns, *type; /* type: "get", "set" or NULL for both */
  const char *error_type, *condition;
} Refusal;

static const Refusal refusals[] = {
    {"time", "urn:xmpp:time", NULL, "cancel", "service-unavailable"},
    {"query", "jabber:iq:time", NULL, "cancel", "service-unavailable"},
    {"query", "jabber:iq:oob", NULL, "modify", "not-acceptable"},
    {"jingle", "urn:xmpp:jingle:1", NULL, "cancel", "service-unavailable"},
    {"session", "http://www.google.com/session", NULL, "cancel", "service-unavailable"},
    {NULL, NULL, NULL, NULL, NULL},
};

static xmlnode *first_child(xmlnode *node) {
  for (xmlnode *c = node->child; c; c = c->next)
    if (c->type == XMLNODE_TYPE_TAG) return c;
  return NULL;
}

static void answer_version(PurpleConnection *gc, xmlnode *iq) {
  const PoJabberApi *j = po_jabber_api();
  PoJabberStream *js = purple_connection_get_protocol_data(gc);
  if (j == NULL || js == NULL) return;
  xmlnode *reply = xmlnode_new("iq");
  xmlnode_set_attrib(reply, "type", "result");
  if (xmlnode_get_attrib(iq, "id")) xmlnode_set_attrib(reply, "id", xmlnode_get_attrib(iq, "id"));
  if (xmlnode_get_attrib(iq, "from")) xmlnode_set_attrib(reply, "to", xmlnode_get_attrib(iq, "from"));
  xmlnode *query = xmlnode_new_child(reply, "query");
  xmlnode_set_namespace(query, "jabber:iq:version");
  xmlnode_insert_data(xmlnode_new_child(query, "name"), VERSION_NAME, -1);
  xmlnode_insert_data(xmlnode_new_child(query, "version"), VERSION_VERSION, -1);
  int len = 0;
  char *text = xmlnode_to_str(reply, &len);
  j->send_raw(js, text, len);
  g_free(text);
  xmlnode_free(reply);
}

/* TRUE: answered here. */
static gboolean handle_iq(PurpleConnection *gc, xmlnode *iq) {
  const char *type = xmlnode_get_attrib(iq, "type");
  if (g_strcmp0(type, "get") != 0 && g_strcmp0(type, "set") != 0) return FALSE;
  xmlnode *child = first_child(iq);
  if (child == NULL) return FALSE;
  const char *ns = xmlnode_get_namespace(child);
  for (const Refusal *r = refusals; r->child; r++) {
    if (strcmp(child->name, r->child) != 0 || g_strcmp0(ns, r->ns) != 0) continue;
    if (r->type && strcmp(type, r->type) != 0) continue;
    purple_debug_info(PO_PLUGIN_ID, "refusing a %s request to an onion account\n", r->ns);
    po_send_iq_error(gc, iq, r->error_type, r->condition);
    return TRUE;
  }
  if (strcmp(child->name, "query") != 0 || strcmp(type, "get") != 0) return FALSE;
  if (g_strcmp0(ns, "jabber:iq:last") == 0 && !po_share_idle()) {
    purple_debug_info(PO_PLUGIN_ID, "refusing a jabber:iq:last request to an onion account\n");
    po_send_iq_error(gc, iq, "cancel", "service-unavailable");
    return TRUE;
  }
  if (g_strcmp0(ns, "jabber:iq:version") == 0) {
    answer_version(gc, iq);
    return TRUE;
  }
  const char *node = xmlnode_get_attrib(child, "node");
  if (g_strcmp0(ns, "http://jabber.org/protocol/disco#info") == 0 && node &&
      (g_str_has_suffix(node, "#voice-v1") || g_str_has_suffix(node, "#video-v1") || g_str_has_suffix(node, "#camera-v1"))) {
    po_send_iq_error(gc, iq, "cancel", "item-not-found");
    return TRUE;
  }
  return FALSE;
}

static void receiving_xmlnode(PurpleConnection *gc, xmlnode **packet, gpointer unused) {
  if (packet == NULL || *packet == NULL || !po_connection_is_companion(gc)) return;
  if (g_strcmp0((*packet)->name, "iq") != 0) return;
  if (handle_iq(gc, *packet)) {
    xmlnode_free(*packet);
    *packet = NULL;
  }
}

void po_privacy_iq_start(void) {
  PurplePlugin *jabber = purple_plugins_find_with_id(PO_JABBER);
  if (jabber == NULL || po_jabber_api() == NULL) return;
  /* Disconnected with every other signal of the plugin (plugin.c). */
  purple_signal_connect(jabber, "jabber-receiving-xmlnode", po_plugin, PURPLE_CALLBACK(receiving_xmlnode), NULL);
}

/* File transfer without the machine's addresses. XEP-0096 SI offers carry a stream-method list;
 * with XEP-0065 bytestreams chosen, libpurple listens on a local port (through UPnP or NAT-PMP
 * when map_ports is on) and sends every local interface address as a <streamhost/>, or connects
 * to the streamhosts the contact names (si.c jabber_si_xfer_bytestreams_send_init,
 * jabber_bytestreams_parse): direct connections, outside Tor. On a companion's stream only
 * XEP-0047 in-band bytestreams (through the servers) remain:
 *   out: bytestreams is removed from the stream-method options of an offer and from the values
 *        of an answer; a bytestreams query never carries a <streamhost/>;
 *   in:  the same removal before libpurple reads an offer or an answer (si.c then negotiates
 *        IBB, or cancels when nothing is left), and a bytestreams request is refused
 *        (not-acceptable) before libpurple sees its streamhosts. */
#include "po.h"
#include <debug.h>

#define NS_SI "http://jabber.org/protocol/si"
#define NS_FEATURE_NEG "http://jabber.org/protocol/feature-neg"
#define NS_DATA "jabber:x:data"
#define NS_BYTESTREAMS "http://jabber.org/protocol/bytestreams"

static gboolean is_bytestreams(xmlnode *value) {
  char *text = value ? xmlnode_get_data(value) : NULL;
  gboolean yes = text && g_strcmp0(g_strstrip(text), NS_BYTESTREAMS) == 0;
  g_free(text);
  return yes;
}

static void remove_twins_if(xmlnode *first, gboolean (*doomed)(xmlnode *)) {
  while (first) {
    xmlnode *next = xmlnode_get_next_twin(first);
    if (doomed(first)) xmlnode_free(first);
    first = next;
  }
}

static gboolean option_is_bytestreams(xmlnode *option) { return is_bytestreams(xmlnode_get_child(option, "value")); }

static xmlnode *stream_method(xmlnode *iq) {
  xmlnode *si = xmlnode_get_child_with_namespace(iq, "si", NS_SI);
  xmlnode *feature = si ? xmlnode_get_child_with_namespace(si, "feature", NS_FEATURE_NEG) : NULL;
  xmlnode *x = feature ? xmlnode_get_child_with_namespace(feature, "x", NS_DATA) : NULL;
  for (xmlnode *field = x ? xmlnode_get_child(x, "field") : NULL; field; field = xmlnode_get_next_twin(field))
    if (g_strcmp0(xmlnode_get_attrib(field, "var"), "stream-method") == 0) return field;
  return NULL;
}

/* Removes bytestreams from an SI offer or answer; TRUE when no method is left. */
static gboolean ibb_only(xmlnode *iq) {
  xmlnode *field = stream_method(iq);
  if (field == NULL) return FALSE;
  remove_twins_if(xmlnode_get_child(field, "option"), option_is_bytestreams);
  remove_twins_if(xmlnode_get_child(field, "value"), is_bytestreams);
  return xmlnode_get_child(field, "option") == NULL && xmlnode_get_child(field, "value") == NULL;
}

static void sending_xmlnode(PurpleConnection *gc, xmlnode **packet, gpointer unused) {
  if (packet == NULL || *packet == NULL || !po_connection_is_companion(gc)) return;
  xmlnode *iq = *packet;
  if (g_strcmp0(iq->name, "iq") != 0) return;
  ibb_only(iq);
  xmlnode *query = xmlnode_get_child_with_namespace(iq, "query", NS_BYTESTREAMS);
  xmlnode *host;
  while (query && (host = xmlnode_get_child(query, "streamhost")) != NULL) {
    purple_debug_warning(PO_PLUGIN_ID, "removing a SOCKS5 streamhost from what an onion account sends\n");
    xmlnode_free(host);
  }
}

static void receiving_xmlnode(PurpleConnection *gc, xmlnode **packet, gpointer unused) {
  if (packet == NULL || *packet == NULL || !po_connection_is_companion(gc)) return;
  xmlnode *iq = *packet;
  if (g_strcmp0(iq->name, "iq") != 0) return;
  const char *type = xmlnode_get_attrib(iq, "type");
  gboolean request = g_strcmp0(type, "set") == 0 || g_strcmp0(type, "get") == 0;
  if (request && xmlnode_get_child_with_namespace(iq, "query", NS_BYTESTREAMS)) {
    purple_debug_info(PO_PLUGIN_ID, "refusing a SOCKS5 bytestream offered to an onion account\n");
    po_send_iq_error(gc, iq, "cancel", "not-acceptable");
  } else if (ibb_only(iq) && request) {
    /* XEP-0095 §3.2: no stream method we take. */
    po_send_iq_error(gc, iq, "cancel", "bad-request");
  } else {
    return;
  }
  xmlnode_free(iq);
  *packet = NULL;
}

void po_privacy_xfer_start(void) {
  PurplePlugin *jabber = purple_plugins_find_with_id(PO_JABBER);
  if (jabber == NULL) return;
  purple_signal_connect(jabber, "jabber-sending-xmlnode", po_plugin, PURPLE_CALLBACK(sending_xmlnode), NULL);
  purple_signal_connect(jabber, "jabber-receiving-xmlnode", po_plugin, PURPLE_CALLBACK(receiving_xmlnode), NULL);
}

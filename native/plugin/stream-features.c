/* The companion's stream, as libpurple sees it: the daemon offers SCRAM only and never STARTTLS,
 * and a squatter that slipped past pinning must not talk libpurple into PLAIN. So in every
 * <stream:features> reaching a managed account, <starttls/> goes and every SASL mechanism but
 * SCRAM-SHA-1 and SCRAM-SHA-256 (and their -PLUS) goes (RFC 6120 §5.4, §6.4.1).
 * Hooked on prpl-jabber's jabber-receiving-xmlnode, like carbons and lurch. */
#include "po.h"
#include <debug.h>

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"

static const char *const allowed[] = {"SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", NULL};

static gboolean mechanism_allowed(const char *name) {
  for (int i = 0; allowed[i]; i++)
    if (g_strcmp0(name, allowed[i]) == 0) return TRUE;
  return FALSE;
}

void po_strip_features(xmlnode *features) {
  xmlnode *tls;
  while ((tls = xmlnode_get_child_with_namespace(features, "starttls", NS_TLS)) != NULL) xmlnode_free(tls);
  xmlnode *mechanisms = xmlnode_get_child_with_namespace(features, "mechanisms", NS_SASL);
  if (mechanisms == NULL) return;
  xmlnode *m = xmlnode_get_child(mechanisms, "mechanism");
  while (m != NULL) {
    xmlnode *next = xmlnode_get_next_twin(m);
    char *name = xmlnode_get_data(m);
    if (name) g_strstrip(name);
    if (!mechanism_allowed(name)) {
      purple_debug_info(PO_PLUGIN_ID, "dropping SASL mechanism %s offered to an onion account\n", name ? name : "(empty)");
      xmlnode_free(m);
    }
    g_free(name);
    m = next;
  }
}

static void receiving_xmlnode(PurpleConnection *gc, xmlnode **packet, gpointer unused) {
  if (packet == NULL || *packet == NULL) return;
  if (!po_account_is_companion(purple_connection_get_account(gc))) return;
  xmlnode *node = *packet;
  if (g_strcmp0(node->name, "features") == 0 && g_strcmp0(xmlnode_get_namespace(node), NS_STREAMS) == 0) {
    po_strip_features(node);
    if (xmlnode_get_child_with_namespace(node, "mechanisms", NS_SASL)) po_sasl_without_cyrus_now();
  }
}

void po_stream_features_start(void) {
  PurplePlugin *jabber = purple_plugins_find_with_id(PO_JABBER);
  if (jabber)
    purple_signal_connect(jabber, "jabber-receiving-xmlnode", po_plugin, PURPLE_CALLBACK(receiving_xmlnode), NULL);
}

void po_stream_features_stop(void) {
  /* purple_signals_disconnect_by_handle(po_plugin) in plugin.c covers the jabber handle too. */
  po_sasl_restore();
}

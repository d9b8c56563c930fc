/* What a companion advertises must match what it does. prpl-jabber keeps one global list of
 * features (jabber.c jabber_do_init: jabber_add_feature), each with an optional
 * is_enabled(js, ns) callback; the same list and callbacks build the disco#info answer
 * (disco.c jabber_disco_info_parse) and the XEP-0115 caps hash sent in every presence
 * (caps.c jabber_caps_calculate_own_hash, called by presence.c before each presence). So the
 * callbacks of the features the plugin refuses or never uses on an onion are wrapped, in place:
 * FALSE on a companion's stream, whatever libpurple would have said elsewhere. Unload puts the
 * original callbacks back. */
#include "po.h"
#include <string.h>
#include <debug.h>
#include <prefs.h>

/* Refused by privacy-iq.c or privacy-xfer.c, or never used over Tor (voice and video dial UDP). */
static const char *const hidden[] = {
    "urn:xmpp:time",                          /* XEP-0202: the local clock and time zone */
    "jabber:iq:oob",                          /* XEP-0066: fetching a URL the contact chose */
    "http://jabber.org/protocol/bytestreams", /* XEP-0065: direct connections, IP addresses */
    NULL,
};
static const char *const hidden_prefixes[] = {
    "urn:xmpp:jingle:",                     /* Jingle: RTP, raw-udp and ice-udp transports */
    "http://www.google.com/xmpp/protocol/", /* Google Talk voice, video, camera, session */
    NULL,
};
#define NS_LAST "jabber:iq:last" /* XEP-0012: hidden unless share_idle */

static GHashTable *originals; /* namespace → its original callback (may be NULL) */

static gboolean is_hidden(const char *ns) {
  if (ns == NULL) return FALSE;
  if (strcmp(ns, NS_LAST) == 0) return TRUE;
  for (int i = 0; hidden[i]; i++)
    if (strcmp(ns, hidden[i]) == 0) return TRUE;
  for (int i = 0; hidden_prefixes[i]; i++)
    if (g_str_has_prefix(ns, hidden_prefixes[i])) return TRUE;
  return FALSE;
}

static gboolean wrapped_is_enabled(PoJabberStream *js, const gchar *ns) {
  gboolean companion = po_connection_is_companion(po_connection_of_stream(js));
  if (companion && !(g_strcmp0(ns, NS_LAST) == 0 && po_share_idle())) return FALSE;
  PoJabberFeatureEnabled *original = originals ? g_hash_table_lookup(originals, ns) : NULL;
  return original ? original(js, ns) : TRUE;
}

void po_privacy_features_start(void) {
  const PoJabberApi *j = po_jabber_api();
  if (j == NULL || originals) return;
  originals = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  for (GList *l = *j->features; l; l = l->next) {
    PoJabberFeature *f = l->data;
    if (!is_hidden(f->ns) || f->is_enabled == wrapped_is_enabled) continue;
    g_hash_table_insert(originals, g_strdup(f->ns), (gpointer)f->is_enabled);
    f->is_enabled = wrapped_is_enabled;
  }
  purple_debug_info(PO_PLUGIN_ID, "%u features hidden from onion accounts' disco#info and caps\n",
                    g_hash_table_size(originals));
}

void po_privacy_features_stop(void) {
  const PoJabberApi *j = po_jabber_api();
  if (originals == NULL) return;
  if (j != NULL) {
    for (GList *l = *j->features; l; l = l->next) {
      PoJabberFeature *f = l->data;
      if (f->is_enabled == wrapped_is_enabled) f->is_enabled = g_hash_table_lookup(originals, f->ns);
    }
  }
  g_clear_pointer(&originals, g_hash_table_destroy);
}

/* The few things of prpl-jabber's libjabber the privacy parts use, found at load through the
 * prpl-jabber plugin's own module handle (libjabber is its dependency, loaded local to it: our
 * .so cannot link to it by name in every host). libpurple-dev ships no libjabber headers, so the
 * two types used are declared here as libjabber 2.x lays them out (jabber.h: JabberFeature). */
#include "po.h"
#include <gmodule.h>
#include <debug.h>

static PoJabberApi api;
static gboolean resolved;

gpointer po_jabber_symbol(const char *name) {
  PurplePlugin *jabber = purple_plugins_find_with_id(PO_JABBER);
  gpointer symbol = NULL;
  if (jabber == NULL || jabber->handle == NULL || !g_module_symbol(jabber->handle, name, &symbol)) return NULL;
  return symbol;
}

const PoJabberApi *po_jabber_api(void) {
  if (resolved) return api.send_raw ? &api : NULL;
  resolved = TRUE;
  gpointer send_raw = po_jabber_symbol("jabber_send_raw"), features = po_jabber_symbol("jabber_features");
  if (send_raw == NULL || features == NULL) {
    purple_debug_error(PO_PLUGIN_ID, "libjabber's jabber_send_raw/jabber_features not found: onion accounts keep libpurple's answers\n");
    return NULL;
  }
  api.send_raw = (void (*)(PoJabberStream *, const char *, int))send_raw;
  api.features = (GList **)features;
  return &api;
}

void po_jabber_api_forget(void) {
  resolved = FALSE;
  api.send_raw = NULL;
}

PurpleConnection *po_connection_of_stream(PoJabberStream *js) {
  for (GList *l = purple_connections_get_all(); l; l = l->next)
    if (purple_connection_get_protocol_data(l->data) == js) return l->data;
  return NULL;
}

gboolean po_connection_is_companion(PurpleConnection *gc) {
  return gc != NULL && po_account_is_companion(purple_connection_get_account(gc));
}

/* An iq error answering `iq` (RFC 6120 §8.3), sent raw: libpurple never sees the request. */
void po_send_iq_error(PurpleConnection *gc, xmlnode *iq, const char *type, const char *condition) {
  const PoJabberApi *j = po_jabber_api();
  PoJabberStream *js = purple_connection_get_protocol_data(gc);
  if (j == NULL || js == NULL) return;
  xmlnode *reply = xmlnode_new("iq");
  xmlnode_set_attrib(reply, "type", "error");
  const char *id = xmlnode_get_attrib(iq, "id");
  const char *from = xmlnode_get_attrib(iq, "from");
  if (id) xmlnode_set_attrib(reply, "id", id);
  if (from) xmlnode_set_attrib(reply, "to", from);
  xmlnode *error = xmlnode_new_child(reply, "error");
  xmlnode_set_attrib(error, "type", type);
  xmlnode_set_namespace(xmlnode_new_child(error, condition), "urn:ietf:params:xml:ns:xmpp-stanzas");
  int len = 0;
  char *text = xmlnode_to_str(reply, &len);
  j->send_raw(js, text, len);
  g_free(text);
  xmlnode_free(reply);
}

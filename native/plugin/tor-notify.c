/* Tor's problems in the client's own UI: on tor.changed with state "failed" or a bootstrap
 * warning, one notification per distinct message, in the daemon's words, with what to do. */
#include "po.h"
#include <string.h>
#include <debug.h>
#include <notify.h>

static GHashTable *told;

static void tell(const char *primary, const char *message) {
  if (told == NULL) told = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  if (g_hash_table_contains(told, message)) return;
  g_hash_table_add(told, g_strdup(message));
  char *text = NULL;
  if (strstr(message, "not installed") && strstr(message, "tor") && !strstr(message, "apt-get install tor"))
    text = g_strdup_printf("%s (install it: apt-get install tor)", message);
  purple_notify_error(po_plugin, "Purple Onion", primary,
                      text ? text
                           : message);
  g_free(text);
}

void po_tor_notify(JsonObject *tor) {
  const char *state = po_json_string(tor, "state");
  purple_debug_info(PO_PLUGIN_ID, "tor: %s\n", state ? state : "(no state)");
  if (g_strcmp0(state, "failed") == 0) {
    const char *error = po_json_string(tor, "error");
    tell("Tor failed: onion federation is not working", error ? error : "tor failed: see the daemon's log");
  }
  const char *warning = po_json_string(po_json_object(tor, "bootstrap"), "warning");
  if (warning) tell("Tor cannot connect yet", warning);
}

void po_tor_notify_reset(void) {
  g_clear_pointer(&told, g_hash_table_destroy);
}

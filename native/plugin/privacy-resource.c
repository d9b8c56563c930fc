/* A companion's bound resource never names the machine. prpl-jabber replaces __HOSTNAME__ in
 * the resource with gethostname()'s short name when it binds (jabber.c jabber_prep_resource),
 * and older accounts were made with "Home"-style or host-named resources. Just before libpurple
 * logs a companion in ("signing-on" comes before the prpl's login reads the username), a
 * resource that is empty, holds __HOSTNAME__ or the host's name is set back to "onion". */
#include "po.h"
#include <string.h>
#include <debug.h>
#include <connection.h>

static gboolean names_host(const char *resource) {
  if (resource == NULL || *resource == '\0') return TRUE;
  char *lower = g_ascii_strdown(resource, -1);
  char *host = g_ascii_strdown(g_get_host_name(), -1);
  char *dot = strchr(host, '.');
  if (dot) *dot = '\0';
  gboolean yes = strstr(lower, "__hostname__") != NULL || (*host && strstr(lower, host) != NULL);
  g_free(lower);
  g_free(host);
  return yes;
}

static void signing_on(PurpleConnection *gc) {
  PurpleAccount *a = purple_connection_get_account(gc);
  if (!po_account_is_companion(a)) return;
  const char *username = purple_account_get_username(a);
  const char *slash = strchr(username, '/');
  if (!names_host(slash ? slash + 1 : NULL)) return;
  char *fixed = g_strdup_printf("%.*s/%s", (int)(slash ? slash - username : (int)strlen(username)), username, PO_COMPANION_RESOURCE);
  purple_debug_warning(PO_PLUGIN_ID, "an onion account's resource named the host: set to \"" PO_COMPANION_RESOURCE "\"\n");
  purple_account_set_username(a, fixed);
  g_free(fixed);
}

void po_privacy_resource_start(void) {
  purple_signal_connect(purple_connections_get_handle(), "signing-on", po_plugin, PURPLE_CALLBACK(signing_on), NULL);
}

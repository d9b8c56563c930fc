/* Plugin actions (Tools → Plugin actions in Pidgin, Actions in Finch): Tor's state without a
 * terminal, and the onion address to copy. */
#include "po.h"
#include <string.h>
#include <notify.h>
#include <request.h>

static void append_tor(GString *html, JsonObject *tor) {
  const char *mode = po_json_string(tor, "mode");
  g_string_append_printf(html, "<b>Tor:</b> %s", mode ? mode : "unknown");
  if (g_strcmp0(mode, "none") == 0) {
    g_string_append(html, " (the daemon runs without Tor: no federation)<br>");
    return;
  }
  const char *state = po_json_string(tor, "state");
  g_string_append_printf(html, ", %s<br>", state ? state : "unknown");
  JsonObject *bootstrap = po_json_object(tor, "bootstrap");
  if (bootstrap) {
    char *summary = g_markup_escape_text(po_json_string(bootstrap, "summary") ? po_json_string(bootstrap, "summary") : "", -1);
    g_string_append_printf(html, "<b>Bootstrap:</b> %" G_GINT64_FORMAT "%% %s<br>", po_json_int(bootstrap, "progress", 0), summary);
    g_free(summary);
    const char *warning = po_json_string(bootstrap, "warning");
    if (warning) {
      char *w = g_markup_escape_text(warning, -1);
      g_string_append_printf(html, "<b>Warning:</b> %s<br>", w);
      g_free(w);
    }
  }
  const char *error = po_json_string(tor, "error");
  if (error) {
    char *e = g_markup_escape_text(error, -1);
    g_string_append_printf(html, "<b>Error:</b> %s<br>", e);
    g_free(e);
  }
}

static gboolean is_ours(const char *jid) {
  GList *companions = po_companions();
  gboolean found = FALSE;
  for (GList *l = companions; l && !found; l = l->next) {
    const char *user = purple_account_get_username(l->data);
    size_t n = strcspn(user, "/");
    found = strlen(jid) == n && strncmp(user, jid, n) == 0;
  }
  g_list_free(companions);
  return found;
}

static void status_done(JsonObject *result, const char *code, const char *message, gpointer unused) {
  if (result == NULL) {
    purple_notify_error(po_plugin, "Onion federation status", "The daemon did not answer", message);
    return;
  }
  GString *html = g_string_new("");
  JsonObject *tor = po_json_object(result, "tor");
  if (tor) append_tor(html, tor);
  JsonNode *accounts = json_object_has_member(result, "accounts") ? json_object_get_member(result, "accounts") : NULL;
  if (accounts && JSON_NODE_HOLDS_ARRAY(accounts)) {
    JsonArray *a = json_node_get_array(accounts);
    for (guint i = 0; i < json_array_get_length(a); i++) {
      JsonObject *acc = json_array_get_object_element(a, i);
      const char *jid = po_json_string(acc, "jid");
      if (jid == NULL || !is_ours(jid)) continue; /* only this client's companions */
      const char *state = po_json_string(acc, "onionState");
      const char *err = po_json_string(acc, "onionError");
      char *j = g_markup_escape_text(jid, -1);
      g_string_append_printf(html, "<br><b>%s</b>: onion %s", j, state ? state : "not served (no Tor)");
      if (err) {
        char *e = g_markup_escape_text(err, -1);
        g_string_append_printf(html, " (%s)", e);
        g_free(e);
      }
      g_string_append_printf(html, ", %" G_GINT64_FORMAT " session(s)", po_json_int(acc, "sessions", 0));
      g_free(j);
    }
  }
  purple_notify_formatted(po_plugin, "Onion federation status", "Onion federation status", NULL, html->str, NULL, NULL);
  g_string_free(html, TRUE);
}

static void show_status(PurplePluginAction *action) {
  po_daemon_request("status", NULL, status_done, NULL, NULL);
}

static void show_address(PurplePluginAction *action) {
  GList *companions = po_companions();
  if (companions == NULL) {
    purple_notify_info(po_plugin, "My onion address", "No account is federated over Tor yet",
                       "Tick \"" PO_OPTION_LABEL "\" in an XMPP account's advanced settings.");
  } else if (companions->next == NULL) {
    const char *user = purple_account_get_username(companions->data);
    char *jid = g_strndup(user, strcspn(user, "/"));
    purple_request_input(po_plugin, "My onion address", "Your onion XMPP address",
                         "Give it to your contacts; they add it as a buddy.", jid, FALSE, FALSE, NULL, "Close",
                         NULL, NULL, NULL, companions->data, NULL, NULL, NULL);
    g_free(jid);
  } else {
    GString *html = g_string_new("");
    for (GList *l = companions; l; l = l->next) {
      const char *user = purple_account_get_username(l->data);
      char *jid = g_markup_escape_text(user, strcspn(user, "/"));
      g_string_append_printf(html, "%s<br>", jid);
      g_free(jid);
    }
    purple_notify_formatted(po_plugin, "My onion addresses", "Your onion XMPP addresses",
                            "Give them to your contacts; they add them as buddies.", html->str, NULL, NULL);
    g_string_free(html, TRUE);
  }
  g_list_free(companions);
}

GList *po_actions(PurplePlugin *plugin, gpointer context) {
  GList *list = NULL;
  list = g_list_append(list, purple_plugin_action_new("Onion federation status…", show_status));
  list = g_list_append(list, purple_plugin_action_new("Show my onion address", show_address));
  return list;
}

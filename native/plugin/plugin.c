/* purple-onion: the libpurple plugin's entry point. Load wires the parts together; unload undoes
 * exactly that: the account option, signals, timers, the control connection, the resolver ops,
 * and (only with stop_daemon_on_quit) the daemon this plugin started. */
#include "po.h"
#include <debug.h>
#include <pluginpref.h>
#include <notify.h>
#include <request.h>
#include <prefs.h>
#include <version.h>

PurplePlugin *po_plugin;

static gboolean plugin_load(PurplePlugin *plugin) {
  po_plugin = plugin;
  if (!po_option_add()) {
    purple_debug_error(PO_PLUGIN_ID, "prpl-jabber is not loaded\n");
    return FALSE;
  }
  po_resolver_guard_install();
  po_stream_features_start();
  po_privacy_features_start();
  po_privacy_iq_start();
  po_privacy_presence_start();
  po_privacy_xfer_start();
  po_privacy_resource_start();
  po_companion_start();
  /* After companion.c: at load it holds enabled companions disabled with PO_SETTING_RESUME. */
  po_privacy_network_start();
  return TRUE;
}

static gboolean plugin_unload(PurplePlugin *plugin) {
  po_daemon_stop();
  po_privacy_network_stop();
  po_companion_stop();
  po_privacy_features_stop();
  po_stream_features_stop();
  purple_signals_disconnect_by_handle(plugin);
  purple_request_close_with_handle(plugin);
  purple_notify_close_with_handle(plugin);
  po_resolver_guard_remove();
  po_tor_notify_reset();
  po_option_remove();
  po_jabber_api_forget();
  return TRUE;
}

static PurplePluginPrefFrame *pref_frame(PurplePlugin *plugin) {
  PurplePluginPrefFrame *frame = purple_plugin_pref_frame_new();
  purple_plugin_pref_frame_add(frame, purple_plugin_pref_new_with_name_and_label(
                                          PO_PREF_ASK_LOCALPART, "Ask which name a new onion account gets"));
  purple_plugin_pref_frame_add(frame, purple_plugin_pref_new_with_name_and_label(
                                          PO_PREF_DATA_DIR, "Daemon data directory (empty: the default)"));
  purple_plugin_pref_frame_add(frame, purple_plugin_pref_new_with_name_and_label(
                                          PO_PREF_SERVE_ARGS, "Extra arguments for `purple-onion serve`"));
  purple_plugin_pref_frame_add(frame, purple_plugin_pref_new_with_name_and_label(
                                          PO_PREF_STOP_ON_QUIT, "Stop the daemon when this client quits"));
  purple_plugin_pref_frame_add(frame, purple_plugin_pref_new_with_name_and_label(
                                          PO_PREF_SHARE_IDLE, "Share idle time over onion (contacts see how long you were away)"));
  return frame;
}

static PurplePluginUiInfo prefs_info = {pref_frame, 0, NULL, NULL, NULL, NULL, NULL};

static PurplePluginInfo info = {
    PURPLE_PLUGIN_MAGIC, PURPLE_MAJOR_VERSION, PURPLE_MINOR_VERSION, PURPLE_PLUGIN_STANDARD, NULL, 0, NULL,
    PURPLE_PRIORITY_DEFAULT, PO_PLUGIN_ID, PO_PLUGIN_NAME, PO_PLUGIN_VERSION, PO_PLUGIN_SUMMARY,
    PO_PLUGIN_DESCRIPTION, PO_PLUGIN_AUTHOR, PO_PLUGIN_HOMEPAGE, plugin_load, plugin_unload, NULL, NULL, NULL,
    &prefs_info, po_actions, NULL, NULL, NULL, NULL,
};

static void init_plugin(PurplePlugin *plugin) {
  info.dependencies = g_list_append(info.dependencies, PO_JABBER);
  purple_prefs_add_none(PO_PREF_ROOT);
  purple_prefs_add_bool(PO_PREF_ASK_LOCALPART, TRUE);
  purple_prefs_add_string(PO_PREF_DATA_DIR, "");
  purple_prefs_add_string(PO_PREF_SERVE_ARGS, "");
  purple_prefs_add_bool(PO_PREF_STOP_ON_QUIT, FALSE);
  purple_prefs_add_bool(PO_PREF_SHARE_IDLE, FALSE);
  po_privacy_network_init_prefs();
}

gboolean po_share_idle(void) { return purple_prefs_get_bool(PO_PREF_SHARE_IDLE); }

PURPLE_INIT_PLUGIN(purple_onion, init_plugin, info)

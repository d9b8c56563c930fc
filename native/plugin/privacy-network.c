/* No UPnP, NAT-PMP or STUN while an onion account is in use. libpurple's global network prefs
 * make it announce the machine on the LAN and ask outside servers for its public address:
 * map_ports (UPnP SSDP multicast and NAT-PMP to the gateway when anything listens: network.c
 * purple_network_listen_range), auto_ip (purple_network_get_my_ip asks STUN, UPnP, NAT-PMP),
 * and stun_server (resolved in DNS at once: purple_network_set_stun_server). While at least one
 * companion is enabled, or held disabled by the plugin until verified (PO_SETTING_RESUME), the
 * three are forced to FALSE, FALSE and "" and libpurple's resolved STUN address is dropped; the
 * user's values are kept under PO_PREF_NETWORK_HELD and restored when the last companion goes
 * away and on unload. Quitting keeps them forced (and saved so in prefs.xml): at the next start
 * purple_network_init, which runs before any plugin loads, then sends no UPnP discovery either.
 * A change the user makes while they are held becomes the value restored later. */
#include "po.h"
#include <core.h>
#include <debug.h>
#include <eventloop.h>
#include <connection.h>
#include <network.h>
#include <prefs.h>

#define MAP_PORTS "/purple/network/map_ports"
#define AUTO_IP "/purple/network/auto_ip"
#define STUN_SERVER "/purple/network/stun_server"
#define HELD PO_PREF_NETWORK_HELD "/held"
#define SAVED_MAP_PORTS PO_PREF_NETWORK_HELD "/map_ports"
#define SAVED_AUTO_IP PO_PREF_NETWORK_HELD "/auto_ip"
#define SAVED_STUN_SERVER PO_PREF_NETWORK_HELD "/stun_server"

static gboolean started, quitting, forcing;
static guint recheck_timer;

static gboolean companion_in_use(void) {
  gboolean yes = FALSE;
  GList *companions = po_companions();
  for (GList *l = companions; l && !yes; l = l->next) {
    PurpleAccount *c = l->data;
    yes = purple_account_get_enabled(c, purple_core_get_ui()) || purple_account_get_bool(c, PO_SETTING_RESUME, FALSE) ||
          !purple_account_is_disconnected(c);
  }
  g_list_free(companions);
  return yes;
}

static void force(void) {
  forcing = TRUE;
  purple_prefs_set_bool(MAP_PORTS, FALSE);
  purple_prefs_set_bool(AUTO_IP, FALSE);
  purple_prefs_set_string(STUN_SERVER, "");
  purple_network_set_stun_server(""); /* forgets the STUN address libpurple resolved */
  forcing = FALSE;
}

static void hold(void) {
  if (purple_prefs_get_bool(HELD)) return force();
  purple_prefs_set_bool(SAVED_MAP_PORTS, purple_prefs_get_bool(MAP_PORTS));
  purple_prefs_set_bool(SAVED_AUTO_IP, purple_prefs_get_bool(AUTO_IP));
  purple_prefs_set_string(SAVED_STUN_SERVER, purple_prefs_get_string(STUN_SERVER));
  purple_prefs_set_bool(HELD, TRUE);
  purple_debug_info(PO_PLUGIN_ID, "an onion account is in use: UPnP, NAT-PMP and STUN off\n");
  force();
}

static void release(void) {
  if (!purple_prefs_get_bool(HELD)) return;
  purple_prefs_set_bool(HELD, FALSE);
  forcing = TRUE;
  purple_prefs_set_bool(MAP_PORTS, purple_prefs_get_bool(SAVED_MAP_PORTS));
  purple_prefs_set_bool(AUTO_IP, purple_prefs_get_bool(SAVED_AUTO_IP));
  purple_prefs_set_string(STUN_SERVER, purple_prefs_get_string(SAVED_STUN_SERVER));
  forcing = FALSE;
  purple_network_set_stun_server(purple_prefs_get_string(STUN_SERVER));
  purple_debug_info(PO_PLUGIN_ID, "no onion account in use: the network prefs are the user's again\n");
}

static void check(void) {
  if (companion_in_use()) hold();
  else release();
}

static gboolean recheck_cb(gpointer unused) {
  recheck_timer = 0;
  check();
  return FALSE;
}

/* Synchronously (account-enabled comes before the connection), and again once libpurple has
 * finished what emitted the signal (account-removed comes before the account leaves the list). */
static void account_changed(PurpleAccount *a) {
  if (!po_account_is_jabber(a)) return;
  check();
  if (recheck_timer == 0) recheck_timer = purple_timeout_add(0, recheck_cb, NULL);
}

/* The user (or another plugin) changed one while held: that is the value to restore. */
static void pref_changed(const char *name, PurplePrefType type, gconstpointer value, gpointer saved) {
  if (forcing || !purple_prefs_get_bool(HELD)) return;
  if (type == PURPLE_PREF_BOOLEAN) {
    if (!GPOINTER_TO_INT(value)) return;
    purple_prefs_set_bool(saved, TRUE);
  } else {
    if (value == NULL || *(const char *)value == '\0') return;
    purple_prefs_set_string(saved, value);
  }
  force();
}

static void signed_off(PurpleConnection *gc) { account_changed(purple_connection_get_account(gc)); }

static void core_quitting(void) { quitting = TRUE; }

void po_privacy_network_start(void) {
  if (started) return;
  started = TRUE;
  quitting = FALSE;
  void *accounts = purple_accounts_get_handle();
  const char *signals[] = {"account-enabled", "account-disabled", "account-added", "account-removed", NULL};
  for (int i = 0; signals[i]; i++)
    purple_signal_connect(accounts, signals[i], po_plugin, PURPLE_CALLBACK(account_changed), NULL);
  purple_signal_connect(purple_connections_get_handle(), "signed-off", po_plugin, PURPLE_CALLBACK(signed_off), NULL);
  purple_signal_connect(purple_get_core(), "quitting", po_plugin, PURPLE_CALLBACK(core_quitting), NULL);
  purple_prefs_connect_callback(po_plugin, MAP_PORTS, pref_changed, SAVED_MAP_PORTS);
  purple_prefs_connect_callback(po_plugin, AUTO_IP, pref_changed, SAVED_AUTO_IP);
  purple_prefs_connect_callback(po_plugin, STUN_SERVER, pref_changed, SAVED_STUN_SERVER);
  check();
}

void po_privacy_network_stop(void) {
  if (!started) return;
  started = FALSE;
  if (recheck_timer) purple_timeout_remove(recheck_timer);
  recheck_timer = 0;
  purple_prefs_disconnect_by_handle(po_plugin);
  if (!quitting) release();
}

void po_privacy_network_init_prefs(void) {
  purple_prefs_add_none(PO_PREF_NETWORK_HELD);
  purple_prefs_add_bool(HELD, FALSE);
  purple_prefs_add_bool(SAVED_MAP_PORTS, TRUE);
  purple_prefs_add_bool(SAVED_AUTO_IP, TRUE);
  purple_prefs_add_string(SAVED_STUN_SERVER, "");
}

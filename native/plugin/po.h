/* purple-onion plugin: what the plugin's files share (names, settings, and each file's entry points). */
#ifndef PURPLE_ONION_PO_H
#define PURPLE_ONION_PO_H

#ifndef PURPLE_PLUGINS
#define PURPLE_PLUGINS
#endif
#include <glib.h>
#include <json-glib/json-glib.h>
#include <account.h>
#include <connection.h>
#include <plugin.h>
#include <xmlnode.h>
#include "plugin-manifest.h"

/* Prefs (libpurple's, under the plugin's id). */
#define PO_PREF_ROOT "/plugins/core/" PO_PLUGIN_ID
#define PO_PREF_ASK_LOCALPART PO_PREF_ROOT "/ask_localpart"
#define PO_PREF_DATA_DIR PO_PREF_ROOT "/data_dir"
#define PO_PREF_SERVE_ARGS PO_PREF_ROOT "/serve_args"
#define PO_PREF_STOP_ON_QUIT PO_PREF_ROOT "/stop_daemon_on_quit"
#define PO_PREF_SHARE_IDLE PO_PREF_ROOT "/share_idle"
/* The user's network prefs while the plugin holds them (privacy-network.c). */
#define PO_PREF_NETWORK_HELD PO_PREF_ROOT "/network_held"

/* Account settings. On the clearnet account X: */
#define PO_SETTING_KEY "purple_onion_key" /* "po-" + 32 hex, random, links X to its companion */
/* On the companion account: */
#define PO_SETTING_COMPANION_OF "purple_onion_companion_of" /* X's key */
#define PO_SETTING_MANAGED "purple_onion_managed"           /* TRUE */
#define PO_SETTING_RESTORE "purple_onion_restore_enabled"   /* X was enabled when ticked */
#define PO_SETTING_RESUME "purple_onion_resume"             /* disabled by us until verified */

#define PO_JABBER "prpl-jabber"
#define PO_COMPANION_RESOURCE "onion"
#define PO_CONTROL_PROTOCOL 1
#define PO_CLIENT_NAME "purple-onion-plugin/" PO_PLUGIN_VERSION

extern PurplePlugin *po_plugin;

/* option.c: the "Federate over Tor onion service" option and the accounts it concerns. */
gboolean po_option_add(void);
void po_option_remove(void);
gboolean po_account_is_jabber(PurpleAccount *account);
gboolean po_account_is_companion(PurpleAccount *account);
/* A clearnet XMPP account with the option ticked (never a companion). */
gboolean po_account_ticked(PurpleAccount *account);
PurpleAccount *po_companion_for_key(const char *key);
PurpleAccount *po_clearnet_for_key(const char *key);
/* The companions of this client (a list to g_list_free). */
GList *po_companions(void);
char *po_new_key(void);

/* companion.c: ticking, unticking, and keeping the clearnet account offline. */
void po_companion_start(void);
void po_companion_stop(void);
void po_companion_scan(void);
/* The daemon answered hello (again): refresh the companions' c2s port. */
void po_companion_daemon_ready(JsonObject *status);

/* daemon-client.c: the JSON-lines control connection (docs/control-protocol.md). */
typedef void (*PoReplyFunc)(JsonObject *result, const char *code, const char *message, gpointer data);
/* Sends op with args (taken; may be NULL); cb gets result, or an error code and message. */
void po_daemon_request(const char *op, JsonObject *args, PoReplyFunc cb, gpointer data, GDestroyNotify destroy);
void po_daemon_stop(void);
char *po_data_dir(void);

/* spawn.c: starting the daemon when nothing answers. */
gboolean po_spawn_daemon(const char *data_dir, GError **error);
gboolean po_spawn_owns_child(void);
void po_spawn_forget(gboolean terminate);
char *po_log_path(const char *data_dir);

/* pinning.c: the c2s listener must belong to us. */
gboolean po_pin_listener(int port, char **why);

/* stream-features.c: SCRAM only and no STARTTLS on the companions' streams. */
void po_stream_features_start(void);
void po_stream_features_stop(void);
void po_strip_features(xmlnode *features);

/* resolver-guard.c: no DNS for onions nor for ticked accounts' servers. */
void po_resolver_guard_install(void);
void po_resolver_guard_remove(void);
gboolean po_name_refused(const char *name);

/* privacy-sasl.c: a companion signs on with prpl-jabber's own SCRAM, not Cyrus. */
void po_sasl_without_cyrus_now(void);
void po_sasl_restore(void);

/* jabber-api.c: libjabber's exported bits, resolved through prpl-jabber's module. */
typedef struct _JabberStream PoJabberStream;
typedef gboolean(PoJabberFeatureEnabled)(PoJabberStream *js, const gchar *ns);
typedef struct {
  gchar *ns;
  PoJabberFeatureEnabled *is_enabled;
} PoJabberFeature; /* libjabber's JabberFeature */
typedef struct {
  void (*send_raw)(PoJabberStream *js, const char *data, int len);
  GList **features; /* of PoJabberFeature */
} PoJabberApi;
/* A libjabber symbol through prpl-jabber's module, or NULL. */
gpointer po_jabber_symbol(const char *name);
/* NULL when libjabber's symbols are not there. */
const PoJabberApi *po_jabber_api(void);
void po_jabber_api_forget(void);
PurpleConnection *po_connection_of_stream(PoJabberStream *js);
gboolean po_connection_is_companion(PurpleConnection *gc);
void po_send_iq_error(PurpleConnection *gc, xmlnode *iq, const char *type, const char *condition);

/* privacy-*.c: what an onion account never tells nor does (docs/plugin.md, "What the plugin
 * changes in libpurple for managed accounts"). Each start/stop pair undoes exactly itself. */
void po_privacy_features_start(void); /* disco#info and caps without time, last, jingle, bytestreams, oob */
void po_privacy_features_stop(void);
void po_privacy_iq_start(void); /* time, last, version, oob, jingle requests answered by us */
void po_privacy_presence_start(void); /* no idle, no caps ext in presence; no avatar URLs in */
void po_privacy_xfer_start(void); /* file transfer: in-band bytestreams only, no streamhost */
void po_privacy_resource_start(void); /* no hostname in the resource */
void po_privacy_network_start(void); /* no UPnP, NAT-PMP, STUN while a companion is enabled */
void po_privacy_network_stop(void);
void po_privacy_network_init_prefs(void);
gboolean po_share_idle(void);

/* tor-notify.c: tor problems, told once each. */
void po_tor_notify(JsonObject *tor);
void po_tor_notify_reset(void);

/* actions.c: plugin actions (status, onion address). */
GList *po_actions(PurplePlugin *plugin, gpointer context);

/* json helpers (daemon-client.c). */
const char *po_json_string(JsonObject *o, const char *member);
gint64 po_json_int(JsonObject *o, const char *member, gint64 fallback);
JsonObject *po_json_object(JsonObject *o, const char *member);

#endif

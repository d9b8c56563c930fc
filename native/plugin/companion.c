/* Ticking and unticking "Federate over Tor onion service" on a clearnet XMPP account X.
 *
 * Ticked: X is kept offline (never connected, its server never resolved) and a companion account
 * <localpart>@<onion>.onion, created once through the daemon's account.ensure with X's random key,
 * is enabled instead. Unticked: the companion is disabled and X is enabled again if it was.
 *
 * libpurple has no "option changed" signal, so a tick is noticed by a 1 s scan, Pidgin's
 * account-modified and account-added; each compares the option with what it was last seen. A
 * companion is enabled only after its port was refreshed from the daemon and pinned to our uid
 * ("verified"); enabled otherwise (by the host at start, by hand), it is disabled and verified. */
#define _GNU_SOURCE
#include "po.h"
#include <dlfcn.h>
#include <string.h>
#include <core.h>
#include <debug.h>
#include <eventloop.h>
#include <notify.h>
#include <prefs.h>
#include <request.h>
#include <savedstatuses.h>
#include <status.h>

#define NOT_HERE "this account is federated over Tor: its onion account signs on instead"

static GHashTable *last_ticked;     /* X username → GINT_TO_POINTER(ticked + 1) */
static GHashTable *pending_restore; /* X username → X was enabled (no companion yet) */
static GHashTable *verified;        /* companion usernames checked this session */
static GHashTable *busy;            /* keys with an activation in flight */
static GHashTable *asking;          /* X username → localpart request handle */
static GHashTable *deferred;        /* keys to activate from the next main-loop turn */
static guint deferred_timer, scan_timer;

static const char *ui(void) { return purple_core_get_ui(); }
static gboolean enabled(PurpleAccount *a) { return purple_account_get_enabled(a, ui()); }
static void set_enabled(PurpleAccount *a, gboolean on) { purple_account_set_enabled(a, ui(), on); }

static char *bare_of(const char *username) { return g_strndup(username, strcspn(username, "/")); }

static char *localpart_of(PurpleAccount *x) {
  const char *user = purple_account_get_username(x);
  const char *at = strchr(user, '@');
  return at && at != user ? g_strndup(user, at - user) : NULL;
}

/* ---- activation: ensure → (reset-password) → create/update → pin → enable ---- */
typedef struct {
  char *key;
  char *localpart;
  char *jid;
  gint64 port;
} Activation;

static void activation_free(gpointer p) {
  Activation *a = p;
  if (busy) g_hash_table_remove(busy, a->key);
  g_free(a->key);
  g_free(a->localpart);
  g_free(a->jid);
  g_free(a);
}

static void tell_error(const char *primary, const char *code, const char *message) {
  /* po-* codes are the connection's own: daemon-client.c already told the user. */
  if (code && g_str_has_prefix(code, "po-")) {
    purple_debug_warning(PO_PLUGIN_ID, "%s: %s\n", primary, message);
    return;
  }
  purple_notify_error(po_plugin, "Purple Onion", primary, message);
}

/* X still wants its companion (or is gone: the companion then stands alone). */
static gboolean still_wanted(const char *key) {
  PurpleAccount *x = po_clearnet_for_key(key);
  return x == NULL || po_account_ticked(x);
}

static void sign_on(PurpleAccount *c) {
  set_enabled(c, TRUE);
  /* Enabling connects only when the account's status is online; take the client's. */
  if (purple_account_is_disconnected(c) && !purple_presence_is_online(purple_account_get_presence(c))) {
    PurpleSavedStatus *current = purple_savedstatus_get_current();
    if (current && purple_savedstatus_get_type(current) != PURPLE_STATUS_OFFLINE)
      purple_savedstatus_activate_for_account(current, c);
  }
}

static void finish(Activation *act) {
  PurpleAccount *c = po_companion_for_key(act->key);
  if (c == NULL) return;
  purple_account_set_int(c, "port", (int)act->port);
  char *why = NULL;
  if (!po_pin_listener((int)act->port, &why)) {
    g_hash_table_remove(verified, purple_account_get_username(c));
    if (enabled(c)) set_enabled(c, FALSE);
    purple_notify_error(po_plugin, "Purple Onion", "The onion account was not signed on", why);
    g_free(why);
    return;
  }
  g_hash_table_add(verified, g_strdup(purple_account_get_username(c)));
  if (still_wanted(act->key) && !enabled(c)) sign_on(c);
  purple_account_set_bool(c, PO_SETTING_RESUME, FALSE);
}

static void write_companion(Activation *act, const char *password) {
  PurpleAccount *c = po_companion_for_key(act->key);
  char *username = g_strconcat(act->jid, "/" PO_COMPANION_RESOURCE, NULL);
  gboolean fresh = FALSE;
  if (c == NULL) c = purple_accounts_find(username, PO_JABBER);
  if (c == NULL) {
    c = purple_account_new(username, PO_JABBER);
    fresh = TRUE;
  } else if (g_strcmp0(purple_account_get_username(c), username) != 0) {
    /* The daemon made a new account for this key (its data dir was reset): follow it. */
    g_hash_table_remove(verified, purple_account_get_username(c));
    purple_account_set_username(c, username);
  }
  purple_account_set_string(c, "connect_server", "127.0.0.1");
  purple_account_set_int(c, "port", (int)act->port);
  purple_account_set_string(c, "connection_security", "opportunistic_tls"); /* no STARTTLS is offered */
  purple_account_set_bool(c, "auth_plain_in_clear", FALSE);
  purple_account_set_string(c, PO_SETTING_COMPANION_OF, act->key);
  purple_account_set_bool(c, PO_SETTING_MANAGED, TRUE);
  PurpleAccount *x = po_clearnet_for_key(act->key);
  if (x && g_hash_table_contains(pending_restore, purple_account_get_username(x))) {
    purple_account_set_bool(c, PO_SETTING_RESTORE, GPOINTER_TO_INT(g_hash_table_lookup(pending_restore, purple_account_get_username(x))));
    g_hash_table_remove(pending_restore, purple_account_get_username(x));
  }
  purple_account_set_remember_password(c, TRUE);
  purple_account_set_password(c, password);
  if (fresh) purple_accounts_add(c);
  g_free(username);
}

static void reset_done(JsonObject *result, const char *code, const char *message, gpointer data) {
  Activation *act = data;
  const char *password = po_json_string(result, "password");
  if (password == NULL) {
    tell_error("The onion account's password could not be renewed", code, message);
    return;
  }
  if (!still_wanted(act->key)) return;
  write_companion(act, password);
  finish(act);
}

static void ensure_done(JsonObject *result, const char *code, const char *message, gpointer data) {
  Activation *act = data;
  if (result == NULL) {
    tell_error("The onion account could not be set up", code, message);
    return;
  }
  const char *jid = po_json_string(result, "jid");
  act->port = po_json_int(result, "port", 0);
  if (jid == NULL) {
    tell_error("The onion account could not be set up", "internal", "the daemon's answer had no jid");
    return;
  }
  act->jid = g_strdup(jid);
  if (!still_wanted(act->key)) return;
  PurpleAccount *c = po_companion_for_key(act->key);
  char *bare = c ? bare_of(purple_account_get_username(c)) : NULL;
  gboolean same = bare && g_strcmp0(bare, jid) == 0;
  g_free(bare);
  const char *password = po_json_string(result, "password");
  if (same) {
    finish(act);
  } else if (password) {
    write_companion(act, password);
    finish(act);
  } else {
    /* The daemon has the account, we lost ours (deleted by the user): a new password. */
    JsonObject *args = json_object_new();
    json_object_set_string_member(args, "jid", jid);
    g_hash_table_add(busy, g_strdup(act->key)); /* the activation goes on */
    Activation *next = g_new0(Activation, 1);
    next->key = g_strdup(act->key);
    next->jid = g_strdup(act->jid);
    next->port = act->port;
    po_daemon_request("account.reset-password", args, reset_done, next, activation_free);
  }
}

static void activate(const char *key, const char *localpart) {
  if (key == NULL || g_hash_table_contains(busy, key)) return;
  g_hash_table_add(busy, g_strdup(key));
  Activation *act = g_new0(Activation, 1);
  act->key = g_strdup(key);
  act->localpart = g_strdup(localpart);
  JsonObject *args = json_object_new();
  json_object_set_string_member(args, "key", key);
  if (localpart) json_object_set_string_member(args, "localpart", localpart);
  po_daemon_request("account.ensure", args, ensure_done, act, activation_free);
}

static gboolean deferred_cb(gpointer unused) {
  deferred_timer = 0;
  GList *keys = g_hash_table_get_keys(deferred);
  for (GList *l = keys; l; l = l->next) activate(l->data, NULL);
  g_list_free(keys);
  g_hash_table_remove_all(deferred);
  return FALSE;
}

static void activate_later(const char *key) {
  if (key == NULL) return;
  g_hash_table_add(deferred, g_strdup(key));
  if (deferred_timer == 0) deferred_timer = purple_timeout_add(0, deferred_cb, NULL);
}

/* ---- ticking ---- */
static void remember_restore(PurpleAccount *x, gboolean was_enabled) {
  PurpleAccount *c = po_companion_for_key(purple_account_get_string(x, PO_SETTING_KEY, NULL));
  if (c) purple_account_set_bool(c, PO_SETTING_RESTORE, was_enabled);
  else g_hash_table_insert(pending_restore, g_strdup(purple_account_get_username(x)), GINT_TO_POINTER(was_enabled));
}

/* A ticked X that is enabled: offline at once (synchronously: before anything connects it). */
static void keep_offline(PurpleAccount *x) {
  if (!enabled(x)) return;
  purple_debug_info(PO_PLUGIN_ID, "keeping a ticked clearnet account offline\n");
  remember_restore(x, TRUE);
  set_enabled(x, FALSE);
}

static void untick(PurpleAccount *x);

static void localpart_chosen(void *data, int action) {
  char *username = data;
  g_hash_table_remove(asking, username);
  PurpleAccount *x = purple_accounts_find(username, PO_JABBER);
  if (x == NULL || !po_account_ticked(x)) {
    g_free(username);
    return;
  }
  if (action == 2) { /* Cancel: untick */
    purple_account_set_bool(x, PO_OPTION, FALSE);
    g_hash_table_insert(last_ticked, g_strdup(username), GINT_TO_POINTER(1));
    untick(x);
    g_free(username);
    return;
  }
  char *key = po_new_key();
  if (key == NULL) {
    purple_notify_error(po_plugin, "Purple Onion", "No random key", "the system's random source failed");
    g_free(username);
    return;
  }
  purple_account_set_string(x, PO_SETTING_KEY, key);
  char *localpart = action == 1 ? localpart_of(x) : NULL;
  activate(key, localpart);
  g_free(localpart);
  g_free(key);
  g_free(username);
}

static void ask_localpart(PurpleAccount *x, const char *localpart) {
  const char *username = purple_account_get_username(x);
  if (g_hash_table_contains(asking, username)) return;
  char *use = g_strdup_printf("Use \"%s\"", localpart);
  void *handle = purple_request_action(
      po_plugin, "Federate over Tor", "Which name should your onion account have?",
      "It becomes name@<a new onion address>.onion, a separate account with its own contacts. "
      "A random name says nothing about you; your clearnet name links the two identities.",
      0, x, NULL, NULL, g_strdup(username), 3, "Random name (recommended)", PURPLE_CALLBACK(localpart_chosen), use,
      PURPLE_CALLBACK(localpart_chosen), "Cancel", PURPLE_CALLBACK(localpart_chosen));
  g_hash_table_insert(asking, g_strdup(username), handle);
  g_free(use);
}

static void tick(PurpleAccount *x) {
  purple_debug_info(PO_PLUGIN_ID, "onion federation ticked\n");
  gboolean was_enabled = enabled(x);
  remember_restore(x, was_enabled);
  if (was_enabled) set_enabled(x, FALSE);
  const char *key = purple_account_get_string(x, PO_SETTING_KEY, NULL);
  char *localpart = NULL;
  if (key && *key) {
    activate(key, NULL);
  } else if (purple_prefs_get_bool(PO_PREF_ASK_LOCALPART) && (localpart = localpart_of(x)) != NULL) {
    ask_localpart(x, localpart);
    g_free(localpart);
  } else {
    char *fresh = po_new_key();
    if (fresh == NULL) return;
    purple_account_set_string(x, PO_SETTING_KEY, fresh);
    activate(fresh, NULL);
    g_free(fresh);
  }
}

static void untick(PurpleAccount *x) {
  purple_debug_info(PO_PLUGIN_ID, "onion federation unticked\n");
  const char *username = purple_account_get_username(x);
  void *handle = g_hash_table_lookup(asking, username);
  if (handle) {
    g_hash_table_remove(asking, username);
    purple_request_close(PURPLE_REQUEST_ACTION, handle);
  }
  PurpleAccount *c = po_companion_for_key(purple_account_get_string(x, PO_SETTING_KEY, NULL));
  gboolean restore;
  if (c) {
    purple_account_set_bool(c, PO_SETTING_RESUME, FALSE);
    if (enabled(c)) set_enabled(c, FALSE);
    restore = purple_account_get_bool(c, PO_SETTING_RESTORE, FALSE);
  } else {
    restore = GPOINTER_TO_INT(g_hash_table_lookup(pending_restore, username));
  }
  g_hash_table_remove(pending_restore, username);
  if (restore && !enabled(x)) set_enabled(x, TRUE);
}

void po_companion_scan(void) {
  GList *all = g_list_copy(purple_accounts_get_all());
  for (GList *l = all; l; l = l->next) {
    PurpleAccount *a = l->data;
    if (g_list_find(purple_accounts_get_all(), a) == NULL) continue; /* removed meanwhile */
    if (!po_account_is_jabber(a) || po_account_is_companion(a)) continue;
    const char *username = purple_account_get_username(a);
    gboolean now = po_account_ticked(a);
    gboolean before = GPOINTER_TO_INT(g_hash_table_lookup(last_ticked, username)) == 2;
    g_hash_table_insert(last_ticked, g_strdup(username), GINT_TO_POINTER(now ? 2 : 1));
    if (now && !before) tick(a);
    else if (!now && before) untick(a);
    else if (now) keep_offline(a);
  }
  g_list_free(all);
}

static gboolean scan_cb(gpointer unused) {
  po_companion_scan();
  return TRUE;
}

/* The control connection is (again) up: companions follow the daemon's c2s port, and enabled
 * ones that lost their connection (the daemon restarted) sign on again once pinned. */
void po_companion_daemon_ready(JsonObject *status) {
  gint64 port = po_json_int(po_json_object(status, "c2s"), "port", 0);
  if (port <= 0) return;
  GList *companions = po_companions();
  for (GList *l = companions; l; l = l->next) {
    PurpleAccount *c = l->data;
    if (purple_account_get_int(c, "port", 0) != port) purple_account_set_int(c, "port", (int)port);
    if (!enabled(c) || !purple_account_is_disconnected(c)) continue;
    if (!still_wanted(purple_account_get_string(c, PO_SETTING_COMPANION_OF, NULL))) continue;
    char *why = NULL;
    if (po_pin_listener((int)port, &why)) {
      purple_debug_info(PO_PLUGIN_ID, "the daemon is back: signing the onion account on again\n");
      purple_account_connect(c);
    } else {
      purple_debug_warning(PO_PLUGIN_ID, "not reconnecting: %s\n", why);
      g_free(why);
    }
  }
  g_list_free(companions);
}

/* An enabled companion not verified yet: disabled until it is, and remembered as wanting to be
 * enabled (PO_SETTING_RESUME), so a daemon that does not answer today does not leave it off for good. */
static void hold_for_verification(PurpleAccount *c) {
  purple_account_set_bool(c, PO_SETTING_RESUME, TRUE);
  if (enabled(c)) set_enabled(c, FALSE);
}

/* ---- signals ---- */
static void account_enabled(PurpleAccount *a) {
  if (po_account_ticked(a)) {
    /* account.c emits this before purple_account_connect, which returns early for an account
     * no longer enabled: so X never connects. */
    keep_offline(a);
    PurpleAccount *c = po_companion_for_key(purple_account_get_string(a, PO_SETTING_KEY, NULL));
    if (c && !enabled(c)) activate_later(purple_account_get_string(a, PO_SETTING_KEY, NULL));
  } else if (po_account_is_companion(a) && !g_hash_table_contains(verified, purple_account_get_username(a))) {
    hold_for_verification(a);
    activate_later(purple_account_get_string(a, PO_SETTING_COMPANION_OF, NULL));
  }
}

static void account_disabled(PurpleAccount *a) {
  if (po_account_is_companion(a)) g_hash_table_remove(verified, purple_account_get_username(a));
}

static gboolean disable_later_cb(gpointer data) {
  PurpleAccount *x = purple_accounts_find(data, PO_JABBER);
  if (x && po_account_ticked(x)) keep_offline(x);
  g_free(data);
  return FALSE;
}

/* Last line of defence. purple_connection_error_reason only schedules the disconnect (0 ms
 * timeout); the login that follows in _purple_connection_new queues its own lookup with a later
 * 0 ms timeout (purple_proxy_connect → purple_dnsquery_a_account) or asks the SRV ops, which
 * refuse this account's domain: the disconnect runs first and cancels the lookup. */
static void refuse_connection(PurpleConnection *gc) {
  PurpleAccount *a = purple_connection_get_account(gc);
  if (po_account_ticked(a)) {
    purple_connection_error_reason(gc, PURPLE_CONNECTION_ERROR_INVALID_SETTINGS, NOT_HERE);
    purple_timeout_add(0, disable_later_cb, g_strdup(purple_account_get_username(a)));
  } else if (po_account_is_companion(a)) {
    char *why = NULL;
    if (!po_pin_listener(purple_account_get_int(a, "port", 0), &why)) {
      g_hash_table_remove(verified, purple_account_get_username(a));
      purple_connection_error_reason(gc, PURPLE_CONNECTION_ERROR_INVALID_SETTINGS, why);
      g_free(why);
    }
  }
}

static void signing_on(PurpleConnection *gc) {
  refuse_connection(gc);
}

static void account_connecting(PurpleAccount *a) {
  PurpleConnection *gc = purple_account_get_connection(a);
  if (gc && po_account_ticked(a)) purple_connection_error_reason(gc, PURPLE_CONNECTION_ERROR_INVALID_SETTINGS, NOT_HERE);
}

static void account_changed(PurpleAccount *a) {
  po_companion_scan();
}

static void account_removed(PurpleAccount *a) {
  g_hash_table_remove(last_ticked, purple_account_get_username(a));
  g_hash_table_remove(pending_restore, purple_account_get_username(a));
  g_hash_table_remove(verified, purple_account_get_username(a));
}

void po_companion_start(void) {
  last_ticked = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  pending_restore = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  verified = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  busy = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  asking = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  deferred = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

  void *accounts = purple_accounts_get_handle();
  purple_signal_connect(accounts, "account-enabled", po_plugin, PURPLE_CALLBACK(account_enabled), NULL);
  purple_signal_connect(accounts, "account-disabled", po_plugin, PURPLE_CALLBACK(account_disabled), NULL);
  purple_signal_connect(accounts, "account-added", po_plugin, PURPLE_CALLBACK(account_changed), NULL);
  purple_signal_connect(accounts, "account-removed", po_plugin, PURPLE_CALLBACK(account_removed), NULL);
  purple_signal_connect(accounts, "account-connecting", po_plugin, PURPLE_CALLBACK(account_connecting), NULL);
  purple_signal_connect(purple_connections_get_handle(), "signing-on", po_plugin, PURPLE_CALLBACK(signing_on), NULL);
  /* Pidgin tells when its account dialog saved; Finch tells nothing (the scan covers it). */
  void *(*pidgin_handle)(void) = (void *(*)(void))dlsym(RTLD_DEFAULT, "pidgin_account_get_handle");
  if (pidgin_handle)
    purple_signal_connect(pidgin_handle(), "account-modified", po_plugin, PURPLE_CALLBACK(account_changed), NULL);

  /* At load (hosts load plugins before restoring statuses): ticked accounts go offline, and
   * enabled companions wait until verified. */
  GList *all = g_list_copy(purple_accounts_get_all());
  for (GList *l = all; l; l = l->next) {
    PurpleAccount *a = l->data;
    if (!po_account_is_jabber(a)) continue;
    if (po_account_is_companion(a)) {
      /* Also one we held last time and never verified (the daemon did not answer then). */
      if (enabled(a) || purple_account_get_bool(a, PO_SETTING_RESUME, FALSE)) {
        hold_for_verification(a);
        activate(purple_account_get_string(a, PO_SETTING_COMPANION_OF, NULL), NULL);
      }
      continue;
    }
    gboolean ticked = po_account_ticked(a);
    g_hash_table_insert(last_ticked, g_strdup(purple_account_get_username(a)), GINT_TO_POINTER(ticked ? 2 : 1));
    if (!ticked) continue;
    keep_offline(a);
    if (po_companion_for_key(purple_account_get_string(a, PO_SETTING_KEY, NULL)) == NULL) tick(a);
  }
  g_list_free(all);
  /* 250 ms: a tick in Finch (no signal for it) must bring the onion account up well within a
   * second; scanning a few accounts' settings costs microseconds. */
  scan_timer = purple_timeout_add(250, scan_cb, NULL);
}

void po_companion_stop(void) {
  if (scan_timer) purple_timeout_remove(scan_timer);
  if (deferred_timer) purple_timeout_remove(deferred_timer);
  scan_timer = deferred_timer = 0;
  GList *handles = asking ? g_hash_table_get_values(asking) : NULL;
  for (GList *l = handles; l; l = l->next) purple_request_close(PURPLE_REQUEST_ACTION, l->data);
  g_list_free(handles);
  g_clear_pointer(&asking, g_hash_table_destroy);
  g_clear_pointer(&last_ticked, g_hash_table_destroy);
  g_clear_pointer(&pending_restore, g_hash_table_destroy);
  g_clear_pointer(&verified, g_hash_table_destroy);
  g_clear_pointer(&busy, g_hash_table_destroy);
  g_clear_pointer(&deferred, g_hash_table_destroy);
}

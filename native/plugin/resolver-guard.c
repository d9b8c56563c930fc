/* DNS and SRV/TXT UI ops that sit in front of the ones already installed (the bridge's GResolver
 * ops, or none in Pidgin and Finch: then libpurple's own resolver) and refuse, without asking
 * DNS, any name under .onion (prpl-jabber looks up _stun._udp.<domain> even when connect_server
 * is an IP: BRIDGE.md) and the domain or connect_server of an account ticked for onion
 * federation. Refusals are reported from a 0 ms timeout: libpurple still holds the query when
 * the op returns (dnssrv.c hands it back to the caller). */
#include "po.h"
#include <string.h>
#include <debug.h>
#include <dnsquery.h>
#include <dnssrv.h>
#include <eventloop.h>

static PurpleDnsQueryUiOps *prev_dns;
static PurpleSrvTxtQueryUiOps *prev_srv;
static PurpleDnsQueryUiOps dns_ops;
static PurpleSrvTxtQueryUiOps srv_ops;
static gboolean installed;
/* query → pending refusal (timer id). */
static GHashTable *refusing;
/* The query being failed by us right now: its destroy is ours, not the chained ops'. */
static gpointer failing;

static gboolean name_is_or_under(const char *name, const char *domain) {
  size_t n = strlen(name), m = strlen(domain);
  if (m == 0 || n < m) return FALSE;
  if (g_ascii_strcasecmp(name + n - m, domain) != 0) return FALSE;
  return n == m || name[n - m - 1] == '.';
}

gboolean po_name_refused(const char *raw) {
  if (raw == NULL) return FALSE;
  char *name = g_strstrip(g_strdup(raw));
  size_t n = strlen(name);
  while (n > 0 && name[n - 1] == '.') name[--n] = '\0';
  gboolean refused = name_is_or_under(name, "onion");
  for (GList *l = purple_accounts_get_all(); l && !refused; l = l->next) {
    PurpleAccount *a = l->data;
    if (!po_account_ticked(a)) continue;
    const char *user = purple_account_get_username(a);
    const char *at = user ? strchr(user, '@') : NULL;
    if (at) {
      char *domain = g_strndup(at + 1, strcspn(at + 1, "/"));
      refused = *domain && name_is_or_under(name, domain);
      g_free(domain);
    }
    const char *server = purple_account_get_string(a, "connect_server", NULL);
    if (!refused && server && *server) refused = name_is_or_under(name, server);
  }
  g_free(name);
  return refused;
}

typedef struct {
  gpointer query;
  gboolean srv;
  gpointer failed_cb;
  guint timer;
} Refusal;

static gboolean refuse_now(gpointer data) {
  Refusal *r = data;
  /* Forget it first: the failure destroys the query, which calls our destroy op. */
  g_hash_table_steal(refusing, r->query);
  const char *why = "purple-onion refused to look this name up in DNS";
  failing = r->query;
  if (r->srv) ((PurpleSrvTxtQueryFailedCallback)r->failed_cb)(r->query, why);
  else ((PurpleDnsQueryFailedCallback)r->failed_cb)(r->query, why);
  failing = NULL;
  g_free(r);
  return FALSE;
}

static void refusal_free(gpointer data) {
  Refusal *r = data;
  if (r->timer) purple_timeout_remove(r->timer);
  g_free(r);
}

static void refuse(gpointer query, gboolean srv, gpointer failed_cb) {
  Refusal *r = g_new0(Refusal, 1);
  r->query = query;
  r->srv = srv;
  r->failed_cb = failed_cb;
  r->timer = purple_timeout_add(0, refuse_now, r);
  g_hash_table_replace(refusing, query, r);
}

/* ---- A/AAAA ---- */
static gboolean dns_resolve(PurpleDnsQueryData *query, PurpleDnsQueryResolvedCallback resolved,
                            PurpleDnsQueryFailedCallback failed) {
  const char *host = purple_dnsquery_get_host(query);
  if (po_name_refused(host)) {
    purple_debug_info(PO_PLUGIN_ID, "refusing a DNS lookup of %s\n", host);
    refuse(query, FALSE, (gpointer)failed);
    return TRUE;
  }
  /* FALSE: libpurple resolves it itself, as without us. */
  return prev_dns && prev_dns->resolve_host ? prev_dns->resolve_host(query, resolved, failed) : FALSE;
}

static void dns_destroy(PurpleDnsQueryData *query) {
  if (query == failing || g_hash_table_remove(refusing, query)) return;
  if (prev_dns && prev_dns->destroy) prev_dns->destroy(query);
}

/* ---- SRV/TXT ---- */
static gboolean srv_resolve(PurpleSrvTxtQueryData *query, PurpleSrvTxtQueryResolvedCallback resolved,
                            PurpleSrvTxtQueryFailedCallback failed) {
  char *name = purple_srv_txt_query_get_query(query);
  if (po_name_refused(name)) {
    purple_debug_info(PO_PLUGIN_ID, "refusing a DNS SRV/TXT lookup of %s\n", name);
    refuse(query, TRUE, (gpointer)failed);
    return TRUE;
  }
  return prev_srv && prev_srv->resolve ? prev_srv->resolve(query, resolved, failed) : FALSE;
}

static void srv_destroy(PurpleSrvTxtQueryData *query) {
  if (query == failing || g_hash_table_remove(refusing, query)) return;
  if (prev_srv && prev_srv->destroy) prev_srv->destroy(query);
}

void po_resolver_guard_install(void) {
  if (installed) return;
  refusing = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, refusal_free);
  prev_dns = purple_dnsquery_get_ui_ops();
  prev_srv = purple_srv_txt_query_get_ui_ops();
  dns_ops.resolve_host = dns_resolve;
  dns_ops.destroy = dns_destroy;
  srv_ops.resolve = srv_resolve;
  srv_ops.destroy = srv_destroy;
  purple_dnsquery_set_ui_ops(&dns_ops);
  purple_srv_txt_query_set_ui_ops(&srv_ops);
  installed = TRUE;
}

void po_resolver_guard_remove(void) {
  if (!installed) return;
  /* Pending refusals: fail them now, while our destroy ops still recognise them. */
  GList *pending = g_hash_table_get_values(refusing);
  for (GList *l = pending; l; l = l->next) {
    Refusal *r = l->data;
    purple_timeout_remove(r->timer);
    r->timer = 0;
  }
  for (GList *l = pending; l; l = l->next) refuse_now(l->data);
  g_list_free(pending);
  /* Only if nobody chained in front of us since. */
  if (purple_dnsquery_get_ui_ops() == &dns_ops) purple_dnsquery_set_ui_ops(prev_dns);
  else purple_debug_warning(PO_PLUGIN_ID, "DNS UI ops were replaced after ours: leaving them\n");
  if (purple_srv_txt_query_get_ui_ops() == &srv_ops) purple_srv_txt_query_set_ui_ops(prev_srv);
  else purple_debug_warning(PO_PLUGIN_ID, "SRV UI ops were replaced after ours: leaving them\n");
  g_hash_table_destroy(refusing);
  refusing = NULL;
  installed = FALSE;
}

// DNS for libpurple through GResolver. libpurple's default forks resolver children, and a child
// forked from multithreaded Node inherits every fd: libuv's epoll then spins on fds the child
// closed (design/BRIDGE.md). GResolver answers on GLib's main context, which pump.cc drives.
#include "bridge.h"

#include <gio/gio.h>

#include <map>

namespace bridge {

namespace {

// libpurple may cancel (destroy) a query at any time, including from inside our own callback;
// the pending map is the one truth about whether a query is still wanted.
struct Lookup {
  GCancellable* cancel;
  void* query;  // PurpleDnsQueryData* or PurpleSrvTxtQueryData*
  gpointer resolved;
  gpointer failed;
  int type;  // for SRV/TXT
};
std::map<void*, Lookup*> pending;

Lookup* Claim(Lookup* lookup) {
  // Still pending? Then it is ours to answer, and libpurple's destroy will find nothing.
  auto it = pending.find(lookup->query);
  bool live = it != pending.end() && it->second == lookup;
  if (live) pending.erase(it);
  g_object_unref(lookup->cancel);
  if (!live) {
    delete lookup;
    return nullptr;
  }
  return lookup;
}

void HostResolved(GObject* source, GAsyncResult* result, gpointer data) {
  GError* error = nullptr;
  GList* addresses = g_resolver_lookup_by_name_finish(G_RESOLVER(source), result, &error);
  Lookup* lookup = Claim(static_cast<Lookup*>(data));
  if (lookup == nullptr) {
    g_clear_error(&error);
    g_resolver_free_addresses(addresses);
    return;
  }
  auto* query = static_cast<PurpleDnsQueryData*>(lookup->query);
  auto resolved = reinterpret_cast<PurpleDnsQueryResolvedCallback>(lookup->resolved);
  auto failed = reinterpret_cast<PurpleDnsQueryFailedCallback>(lookup->failed);
  delete lookup;
  if (error != nullptr) {
    failed(query, error->message);
    g_error_free(error);
    return;
  }
  // libpurple's format: (length, struct sockaddr *) pairs, both owned by the receiver.
  GSList* hosts = nullptr;
  guint16 port = purple_dnsquery_get_port(query);
  for (GList* l = addresses; l != nullptr; l = l->next) {
    GSocketAddress* address = g_inet_socket_address_new(G_INET_ADDRESS(l->data), port);
    gssize size = g_socket_address_get_native_size(address);
    gpointer native = g_malloc0(size);
    if (size > 0 && g_socket_address_to_native(address, native, size, nullptr)) {
      hosts = g_slist_append(hosts, GINT_TO_POINTER(size));
      hosts = g_slist_append(hosts, native);
    } else {
      g_free(native);
    }
    g_object_unref(address);
  }
  g_resolver_free_addresses(addresses);
  resolved(query, hosts);
}

gboolean ResolveHost(PurpleDnsQueryData* query, PurpleDnsQueryResolvedCallback resolved,
                     PurpleDnsQueryFailedCallback failed) {
  auto* lookup = new Lookup{g_cancellable_new(), query, reinterpret_cast<gpointer>(resolved),
                            reinterpret_cast<gpointer>(failed), 0};
  pending[query] = lookup;
  g_object_ref(lookup->cancel);  // one for Claim, one for the pending entry's cancel()
  GResolver* resolver = g_resolver_get_default();
  g_resolver_lookup_by_name_async(resolver, purple_dnsquery_get_host(query), lookup->cancel, HostResolved, lookup);
  g_object_unref(resolver);
  return TRUE;
}

void Destroy(void* query) {
  auto it = pending.find(query);
  if (it == pending.end()) return;
  GCancellable* cancel = it->second->cancel;
  pending.erase(it);
  g_cancellable_cancel(cancel);
  g_object_unref(cancel);
}

void DestroyHost(PurpleDnsQueryData* query) { Destroy(query); }
void DestroySrv(PurpleSrvTxtQueryData* query) { Destroy(query); }

void RecordsResolved(GObject* source, GAsyncResult* result, gpointer data) {
  GError* error = nullptr;
  GList* records = g_resolver_lookup_records_finish(G_RESOLVER(source), result, &error);
  Lookup* lookup = Claim(static_cast<Lookup*>(data));
  if (lookup == nullptr) {
    g_clear_error(&error);
    g_list_free_full(records, reinterpret_cast<GDestroyNotify>(g_variant_unref));
    return;
  }
  auto* query = static_cast<PurpleSrvTxtQueryData*>(lookup->query);
  auto resolved = reinterpret_cast<PurpleSrvTxtQueryResolvedCallback>(lookup->resolved);
  auto failed = reinterpret_cast<PurpleSrvTxtQueryFailedCallback>(lookup->failed);
  int type = lookup->type;
  delete lookup;
  GList* out = nullptr;
  for (GList* l = records; l != nullptr; l = l->next) {
    auto* v = static_cast<GVariant*>(l->data);
    if (type == PurpleDnsTypeSrv) {
      guint16 priority, weight, port;
      const gchar* target;
      g_variant_get(v, "(qqq&s)", &priority, &weight, &port, &target);
      auto* srv = g_new0(PurpleSrvResponse, 1);
      g_strlcpy(srv->hostname, target, sizeof srv->hostname);
      srv->port = port;
      srv->weight = weight;
      srv->pref = priority;
      out = g_list_append(out, srv);
    } else {
      GVariant* strings = g_variant_get_child_value(v, 0);
      gsize n = 0;
      const gchar** parts = g_variant_get_strv(strings, &n);
      auto* txt = g_new0(PurpleTxtResponse, 1);
      txt->content = g_strjoinv("", const_cast<gchar**>(parts));
      g_free(parts);
      g_variant_unref(strings);
      out = g_list_append(out, txt);
    }
  }
  g_list_free_full(records, reinterpret_cast<GDestroyNotify>(g_variant_unref));
  if (error != nullptr || out == nullptr) {
    // libpurple's resolved path refuses an empty list and would never finish the query.
    failed(query, error != nullptr ? error->message : "no records");
    g_clear_error(&error);
    return;
  }
  resolved(query, out);
}

gboolean ResolveSrv(PurpleSrvTxtQueryData* query, PurpleSrvTxtQueryResolvedCallback resolved,
                    PurpleSrvTxtQueryFailedCallback failed) {
  // Never FALSE: libpurple would fall back to forking a resolver. It only asks SRV and TXT.
  int type = purple_srv_txt_query_get_type(query) == PurpleDnsTypeSrv ? PurpleDnsTypeSrv : PurpleDnsTypeTxt;
  auto* lookup = new Lookup{g_cancellable_new(), query, reinterpret_cast<gpointer>(resolved),
                            reinterpret_cast<gpointer>(failed), type};
  pending[query] = lookup;
  g_object_ref(lookup->cancel);
  GResolver* resolver = g_resolver_get_default();
  g_resolver_lookup_records_async(resolver, purple_srv_txt_query_get_query(query),
                                  type == PurpleDnsTypeSrv ? G_RESOLVER_RECORD_SRV : G_RESOLVER_RECORD_TXT,
                                  lookup->cancel, RecordsResolved, lookup);
  g_object_unref(resolver);
  return TRUE;
}

PurpleDnsQueryUiOps dnsOps = {ResolveHost, DestroyHost, nullptr, nullptr, nullptr, nullptr};
PurpleSrvTxtQueryUiOps srvOps = {ResolveSrv, DestroySrv, nullptr, nullptr, nullptr, nullptr};

}  // namespace

void InstallResolvers() {
  purple_dnsquery_set_ui_ops(&dnsOps);
  purple_srv_txt_query_set_ui_ops(&srvOps);
}

}  // namespace bridge

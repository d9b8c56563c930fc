/* Cyrus SASL resolves the machine's own host name at every sign-on: sasl_client_new() calls
 * get_fqhostname(), which asks getaddrinfo(AI_CANONNAME) for gethostname() unless it already has
 * a dot. When /etc/hosts does not know the name, the question goes to the DNS resolver, and an
 * observer of the network learns the host name (seen by test/support/privacy-scenarios.ts under
 * a host name missing from /etc/hosts). So a companion authenticates with prpl-jabber's own
 * SCRAM-SHA-1 (auth_scram.c) instead: Cyrus's mechanism ("*", the highest priority in
 * prpl-jabber's list) is taken out while the companion's <stream:features> are handled, which is
 * where jabber_auth_start picks a mechanism, and put back from a 0 ms timeout, before any other
 * account can read its features. Other accounts keep Cyrus. */
#include "po.h"
#include <debug.h>
#include <eventloop.h>

static gpointer (*get_cyrus_mech)(void);
static void (*add_mech)(gpointer);
static void (*remove_mech)(gpointer);
static guint restore_timer;

static gboolean resolve(void) {
  if (get_cyrus_mech && add_mech && remove_mech) return TRUE;
  /* A libjabber built without Cyrus has no jabber_auth_get_cyrus_mech: nothing to do. */
  gpointer g = po_jabber_symbol("jabber_auth_get_cyrus_mech"), a = po_jabber_symbol("jabber_auth_add_mech"),
           r = po_jabber_symbol("jabber_auth_remove_mech");
  if (g == NULL || a == NULL || r == NULL) return FALSE;
  get_cyrus_mech = (gpointer (*)(void))g;
  add_mech = (void (*)(gpointer))a;
  remove_mech = (void (*)(gpointer))r;
  return TRUE;
}

static gboolean restore(gpointer unused) {
  (void)unused;
  restore_timer = 0;
  add_mech(get_cyrus_mech());
  return FALSE;
}

void po_sasl_without_cyrus_now(void) {
  if (restore_timer != 0 || !resolve()) return;
  remove_mech(get_cyrus_mech());
  restore_timer = purple_timeout_add(0, restore, NULL);
  purple_debug_info(PO_PLUGIN_ID, "onion account: authenticating with libpurple's SCRAM, not Cyrus (which looks the host name up)\n");
}

void po_sasl_restore(void) {
  if (restore_timer == 0) return;
  purple_timeout_remove(restore_timer);
  restore(NULL);
}

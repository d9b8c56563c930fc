/* The boolean account option on prpl-jabber, and finding the accounts it links. */
#include "po.h"
#include <accountopt.h>
#include <prpl.h>
#include <errno.h>
#include <sys/random.h>

static PurpleAccountOption *option;

static PurplePluginProtocolInfo *jabber_info(void) {
  PurplePlugin *jabber = purple_plugins_find_with_id(PO_JABBER);
  return jabber ? PURPLE_PLUGIN_PROTOCOL_INFO(jabber) : NULL;
}

gboolean po_option_add(void) {
  PurplePluginProtocolInfo *info = jabber_info();
  if (info == NULL) return FALSE;
  option = purple_account_option_bool_new(PO_OPTION_LABEL, PO_OPTION, FALSE);
  info->protocol_options = g_list_append(info->protocol_options, option);
  return TRUE;
}

void po_option_remove(void) {
  PurplePluginProtocolInfo *info = jabber_info();
  if (option == NULL) return;
  if (info != NULL) info->protocol_options = g_list_remove(info->protocol_options, option);
  purple_account_option_destroy(option);
  option = NULL;
}

gboolean po_account_is_jabber(PurpleAccount *account) {
  return account != NULL && g_strcmp0(purple_account_get_protocol_id(account), PO_JABBER) == 0;
}

gboolean po_account_is_companion(PurpleAccount *account) {
  return po_account_is_jabber(account) && purple_account_get_bool(account, PO_SETTING_MANAGED, FALSE);
}

gboolean po_account_ticked(PurpleAccount *account) {
  return po_account_is_jabber(account) && !po_account_is_companion(account) &&
         purple_account_get_bool(account, PO_OPTION, FALSE);
}

PurpleAccount *po_companion_for_key(const char *key) {
  if (key == NULL || *key == '\0') return NULL;
  for (GList *l = purple_accounts_get_all(); l != NULL; l = l->next) {
    PurpleAccount *a = l->data;
    if (po_account_is_companion(a) && g_strcmp0(purple_account_get_string(a, PO_SETTING_COMPANION_OF, NULL), key) == 0)
      return a;
  }
  return NULL;
}

PurpleAccount *po_clearnet_for_key(const char *key) {
  if (key == NULL || *key == '\0') return NULL;
  for (GList *l = purple_accounts_get_all(); l != NULL; l = l->next) {
    PurpleAccount *a = l->data;
    if (po_account_is_jabber(a) && !po_account_is_companion(a) &&
        g_strcmp0(purple_account_get_string(a, PO_SETTING_KEY, NULL), key) == 0)
      return a;
  }
  return NULL;
}

GList *po_companions(void) {
  GList *out = NULL;
  for (GList *l = purple_accounts_get_all(); l != NULL; l = l->next)
    if (po_account_is_companion(l->data)) out = g_list_append(out, l->data);
  return out;
}

/* "po-" and 32 hex digits from the kernel's CSPRNG. Never derived from the JID. */
char *po_new_key(void) {
  guint8 bytes[16];
  gsize got = 0;
  while (got < sizeof bytes) {
    ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return NULL;
    }
    got += (gsize)n;
  }
  GString *key = g_string_new("po-");
  for (gsize i = 0; i < sizeof bytes; i++) g_string_append_printf(key, "%02x", bytes[i]);
  return g_string_free(key, FALSE);
}

/* Client-side pinning of the daemon's c2s listener: before a companion connects to
 * 127.0.0.1:<port>, every listening TCP socket that a connection to that address could reach
 * (bound to 127.0.0.1 or to any address, IPv4 or v6) must belong to our own uid, so a squatter
 * on a port the daemon left never sees our SCRAM exchange. Reads /proc/net/tcp and tcp6. */
#include "po.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TCP_LISTEN 0x0A

/* Local addresses (as /proc writes them on this host) that accept connections to 127.0.0.1. */
static gboolean reaches_loopback(const char *addr) {
  static const char *const v4[] = {"0100007F", "00000000", NULL};
  static const char *const v6[] = {
      "00000000000000000000000000000000", /* :: */
      "0000000000000000FFFF00000100007F", /* ::ffff:127.0.0.1 */
      NULL};
  for (int i = 0; v4[i]; i++)
    if (g_ascii_strcasecmp(addr, v4[i]) == 0) return TRUE;
  for (int i = 0; v6[i]; i++)
    if (g_ascii_strcasecmp(addr, v6[i]) == 0) return TRUE;
  return FALSE;
}

/* Counts listeners on port in one table; the first foreign uid goes to *foreign. */
static void scan_table(const char *path, int port, int *mine, long *foreign) {
  char *text = NULL;
  if (!g_file_get_contents(path, &text, NULL, NULL)) return;
  char **lines = g_strsplit(text, "\n", -1);
  for (int i = 1; lines[i] != NULL; i++) {
    char **f = g_strsplit_set(g_strstrip(lines[i]), " ", -1);
    /* Fields without the empty ones from repeated spaces. */
    GPtrArray *words = g_ptr_array_new();
    for (int j = 0; f[j]; j++)
      if (*f[j]) g_ptr_array_add(words, f[j]);
    if (words->len >= 8) {
      const char *local = words->pdata[1];
      const char *colon = strrchr(local, ':');
      unsigned long state = strtoul(words->pdata[3], NULL, 16);
      if (colon && state == TCP_LISTEN && strtol(colon + 1, NULL, 16) == port) {
        char *addr = g_strndup(local, colon - local);
        if (reaches_loopback(addr)) {
          long uid = strtol(words->pdata[7], NULL, 10);
          if (uid == (long)getuid()) (*mine)++;
          else if (*foreign < 0) *foreign = uid;
        }
        g_free(addr);
      }
    }
    g_ptr_array_free(words, TRUE);
    g_strfreev(f);
  }
  g_strfreev(lines);
  g_free(text);
}

gboolean po_pin_listener(int port, char **why) {
  int mine = 0;
  long foreign = -1;
  if (port <= 0 || port > 65535) {
    if (why) *why = g_strdup_printf("the daemon gave no valid c2s port (%d)", port);
    return FALSE;
  }
  scan_table("/proc/net/tcp", port, &mine, &foreign);
  scan_table("/proc/net/tcp6", port, &mine, &foreign);
  if (foreign >= 0) {
    if (why)
      *why = g_strdup_printf("127.0.0.1:%d is held by another user (uid %ld), not by your purple-onion daemon: "
                             "the password is not sent there. Stop that program or restart the daemon "
                             "(`purple-onion stop`), then tick again",
                             port, foreign);
    return FALSE;
  }
  if (mine == 0) {
    if (why) *why = g_strdup_printf("nothing of yours listens on 127.0.0.1:%d: is the purple-onion daemon running?", port);
    return FALSE;
  }
  return TRUE;
}

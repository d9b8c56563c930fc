/* Starting the daemon when nothing answers on the control socket. The command is the node and
 * entry point recorded at install in purple-onion.ini next to this .so ([runtime] node=, entry=),
 * else `purple-onion` from PATH; then `serve --data-dir D` and the words of the serve_args pref.
 * Output goes to <dataDir>/daemon.log. Detached (own session, outlives the client) unless
 * stop_daemon_on_quit: then the plugin owns the child. */
#define _GNU_SOURCE
#include "po.h"
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <debug.h>
#include <prefs.h>

static GSubprocess *owned;

char *po_log_path(const char *data_dir) {
  return g_build_filename(data_dir, "daemon.log", NULL);
}

static char *plugin_dir(void) {
  Dl_info info;
  if (dladdr((void *)&po_spawn_daemon, &info) == 0 || info.dli_fname == NULL) return NULL;
  return g_path_get_dirname(info.dli_fname);
}

/* argv[0..] of the daemon command, without serve's arguments. */
static GPtrArray *daemon_command(GError **error) {
  GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
  char *dir = plugin_dir();
  char *ini = dir ? g_build_filename(dir, "purple-onion.ini", NULL) : NULL;
  GKeyFile *kf = g_key_file_new();
  if (ini && g_key_file_load_from_file(kf, ini, G_KEY_FILE_NONE, NULL)) {
    char *node = g_key_file_get_string(kf, "runtime", "node", NULL);
    char *entry = g_key_file_get_string(kf, "runtime", "entry", NULL);
    if (node && entry && g_path_is_absolute(node) && g_path_is_absolute(entry)) {
      g_ptr_array_add(argv, node);
      g_ptr_array_add(argv, entry);
      node = entry = NULL;
    } else {
      purple_debug_warning(PO_PLUGIN_ID, "%s lacks absolute [runtime] node= and entry=\n", ini);
    }
    g_free(node);
    g_free(entry);
  }
  g_key_file_free(kf);
  if (argv->len == 0) {
    char *found = g_find_program_in_path("purple-onion");
    if (found) {
      g_ptr_array_add(argv, found);
    } else {
      g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                  "the purple-onion daemon is not installed: neither %s nor `purple-onion` on PATH was found",
                  ini ? ini : "purple-onion.ini");
      g_ptr_array_free(argv, TRUE);
      argv = NULL;
    }
  }
  g_free(ini);
  g_free(dir);
  return argv;
}

static void new_session(gpointer unused) {
  setsid();
}

gboolean po_spawn_daemon(const char *data_dir, GError **error) {
  if (g_mkdir_with_parents(data_dir, 0700) != 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot create the data dir %s: %s", data_dir,
                g_strerror(errno));
    return FALSE;
  }
  GPtrArray *argv = daemon_command(error);
  if (argv == NULL) return FALSE;
  g_ptr_array_add(argv, g_strdup("serve"));
  g_ptr_array_add(argv, g_strdup("--data-dir"));
  g_ptr_array_add(argv, g_strdup(data_dir));
  const char *extra = purple_prefs_get_string(PO_PREF_SERVE_ARGS);
  if (extra && *extra) {
    gint n = 0;
    gchar **words = NULL;
    if (!g_shell_parse_argv(extra, &n, &words, error)) {
      g_prefix_error(error, "the serve_args pref is not a valid command line: ");
      g_ptr_array_free(argv, TRUE);
      return FALSE;
    }
    for (gint i = 0; i < n; i++) g_ptr_array_add(argv, g_strdup(words[i]));
    g_strfreev(words);
  }
  g_ptr_array_add(argv, NULL);

  char *log = po_log_path(data_dir);
  int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "cannot open %s: %s", log, g_strerror(errno));
    g_free(log);
    g_ptr_array_free(argv, TRUE);
    return FALSE;
  }
  gboolean own = purple_prefs_get_bool(PO_PREF_STOP_ON_QUIT);
  GSubprocessLauncher *launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_NONE);
  g_subprocess_launcher_take_stdout_fd(launcher, fd);
  g_subprocess_launcher_take_stderr_fd(launcher, dup(fd));
  if (!own) g_subprocess_launcher_set_child_setup(launcher, new_session, NULL, NULL);
  char *shown = g_strjoinv(" ", (char **)argv->pdata);
  purple_debug_info(PO_PLUGIN_ID, "starting the daemon: %s (log: %s)\n", shown, log);
  g_free(shown);
  GSubprocess *child = g_subprocess_launcher_spawnv(launcher, (const gchar *const *)argv->pdata, error);
  g_object_unref(launcher);
  g_ptr_array_free(argv, TRUE);
  g_free(log);
  if (child == NULL) {
    g_prefix_error(error, "cannot start the purple-onion daemon: ");
    return FALSE;
  }
  /* Detached: GLib still reaps it. Owned: kept until unload. */
  if (own) {
    if (owned) g_object_unref(owned);
    owned = child;
  } else {
    g_object_unref(child);
  }
  return TRUE;
}

gboolean po_spawn_owns_child(void) {
  return owned != NULL;
}

void po_spawn_forget(gboolean terminate) {
  if (owned == NULL) return;
  if (terminate) g_subprocess_send_signal(owned, SIGTERM);
  g_clear_object(&owned);
}

/* purple-onion: the libpurple plugin's entry point (stub until the plugin lands). */
#define PURPLE_PLUGINS
#include <glib.h>
#include <plugin.h>
#include <version.h>
#include "plugin-manifest.h"

static gboolean plugin_load(PurplePlugin *plugin) { return TRUE; }
static gboolean plugin_unload(PurplePlugin *plugin) { return TRUE; }

static PurplePluginInfo info = {
  PURPLE_PLUGIN_MAGIC, PURPLE_MAJOR_VERSION, PURPLE_MINOR_VERSION, PURPLE_PLUGIN_STANDARD, NULL, 0, NULL,
  PURPLE_PRIORITY_DEFAULT, PO_PLUGIN_ID, PO_PLUGIN_NAME, PO_PLUGIN_VERSION, PO_PLUGIN_SUMMARY, PO_PLUGIN_DESCRIPTION,
  PO_PLUGIN_AUTHOR, PO_PLUGIN_HOMEPAGE, plugin_load, plugin_unload, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
};

static void init_plugin(PurplePlugin *plugin) {}

PURPLE_INIT_PLUGIN(purple_onion, init_plugin, info)

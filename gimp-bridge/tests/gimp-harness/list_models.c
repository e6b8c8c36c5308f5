/* Test harness (never installed): the GIMP 2.10 plug-in's bridge.c reading
 * `BRIDGE models list --json`, one model a line as "name scale content fetched", or
 * "error: ..." and exit 1. Built and run by gimp-bridge/tests/contract.rs. */

#include <stdio.h>

#include "aiupscale-gimp.h"

int
main (int argc, char **argv)
{
  gchar     *error = NULL;
  GPtrArray *rows;
  guint      i;

  if (argc != 2)
    return 2;
  rows = list_models (argv[1], &error);
  if (! rows)
    {
      printf ("error: %s\n", error);
      return 1;
    }
  for (i = 0; i < rows->len; i++)
    {
      ModelRow *m = g_ptr_array_index (rows, i);
      printf ("%s %d %s %s\n", m->name, m->scale, m->content, m->fetched ? "true" : "false");
    }
  return 0;
}

/* bridge.c: the aiupscale program, through the contract of docs/BRIDGE.md (version 1):
 * `models list --json` for the catalog and `upscale-raw --progress-json - -` for the
 * pixels, both read with json-glib. */

#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <json-glib/json-glib.h>

#include "aiupscale-gimp.h"


/* Reads a path from the first line of a file; NULL when absent or empty. */
static gchar *
read_path_file (const gchar *file)
{
  gchar *text = NULL;
  gchar *path = NULL;

  if (g_file_get_contents (file, &text, NULL, NULL))
    {
      g_strstrip (text);
      gchar *newline = strchr (text, '\n');
      if (newline)
        *newline = '\0';
      g_strstrip (text);
      if (*text)
        path = g_strdup (text);
    }
  g_free (text);
  return path;
}

/* The aiupscale program, and where its path came from (for messages). */
gchar *
find_bridge (const gchar *plug_in_path, gchar **origin)
{
  const gchar *env = g_getenv ("AIUPSCALE_BRIDGE");
  gchar       *path;

  if (env && *env)
    {
      *origin = g_strdup ("the environment variable AIUPSCALE_BRIDGE");
      return g_strdup (env);
    }

  if (plug_in_path && g_path_is_absolute (plug_in_path))
    {
      gchar *dir  = g_path_get_dirname (plug_in_path);
      gchar *file = g_build_filename (dir, "bridge-path", NULL);
      path = read_path_file (file);
      g_free (dir);
      if (path)
        {
          *origin = file;
          return path;
        }
      g_free (file);
    }

  {
    gchar *file = g_build_filename (gimp_directory (), "plug-ins", "aiupscale", "bridge-path", NULL);
    path = read_path_file (file);
    if (path)
      {
        *origin = file;
        return path;
      }
    g_free (file);
  }

  path = g_find_program_in_path ("aiupscale");
  *origin = g_strdup ("PATH");
  return path;
}

static void
bridge_child_setup (gpointer data)
{
#ifdef __linux__
  /* When the plug-in dies (GIMP kills it on cancel), the bridge gets SIGTERM. */
  pid_t parent = GPOINTER_TO_INT (data);
  prctl (PR_SET_PDEATHSIG, SIGTERM);
  if (getppid () != parent)
    raise (SIGTERM);
#else
  (void) data;
#endif
}

typedef struct
{
  const gchar *bridge;
  JsonParser  *parser;
  GString     *line;        /* a partial stderr line */
  GString     *log;         /* non-JSON stderr lines, for error messages */
  gchar       *error;       /* the {"error": ...} text */
  gboolean     cancelled;   /* {"cancelled": true} */
  gint         out_width;
  gint         out_height;
  GByteArray  *out;
  gint         bpp;
  RunInfo     *info;
} Run;

/* The string member `key` of `obj` as a new string, or NULL. */
static gchar *
string_member (JsonObject *obj, const gchar *key)
{
  JsonNode *node = json_object_get_member (obj, key);

  if (! node || ! JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return g_strdup (json_node_get_string (node));
}

void
run_info_clear (RunInfo *info)
{
  g_clear_pointer (&info->engine, g_free);
  g_clear_pointer (&info->precision, g_free);
  g_clear_pointer (&info->provenance, g_free);
  g_clear_pointer (&info->xmp, g_free);
}

static void
handle_line (Run *r, const gchar *line)
{
  JsonNode   *root;
  JsonObject *obj;

  if (*line != '{' ||
      ! json_parser_load_from_data (r->parser, line, -1, NULL) ||
      ! (root = json_parser_get_root (r->parser)) ||
      ! JSON_NODE_HOLDS_OBJECT (root))
    {
      if (*line)
        {
          /* keep the last few KB only */
          if (r->log->len > 4096)
            g_string_erase (r->log, 0, r->log->len - 2048);
          g_string_append (r->log, line);
          g_string_append_c (r->log, '\n');
        }
      return;
    }

  obj = json_node_get_object (root);

  if (json_object_has_member (obj, "progress"))
    {
      gdouble p = json_object_get_double_member (obj, "progress");
      gimp_progress_update (CLAMP (p, 0.0, 1.0));
    }
  else if (json_object_has_member (obj, "started"))
    {
      gchar *text;

      r->out_width  = json_object_get_int_member (obj, "width");
      r->out_height = json_object_get_int_member (obj, "height");
      if (r->out_width > 0 && r->out_height > 0)
        {
          guint64 size = (guint64) r->out_width * (guint64) r->out_height * (guint64) r->bpp;
          /* reserve the room once (set_size to 0 keeps the allocation) */
          if (size < G_MAXUINT && r->out->len == 0)
            {
              g_byte_array_set_size (r->out, (guint) size);
              g_byte_array_set_size (r->out, 0);
            }
        }
      run_info_clear (r->info);
      r->info->engine    = string_member (obj, "engine");
      r->info->precision = string_member (obj, "precision");
      text = g_strdup_printf ("AI Upscale: %s (%s%s%s%s%s) \xe2\x86\x92 %d \xc3\x97 %d",
                              json_object_has_member (obj, "model")
                                ? json_object_get_string_member (obj, "model") : "?",
                              json_object_has_member (obj, "device")
                                ? json_object_get_string_member (obj, "device") : "?",
                              r->info->engine ? ", " : "", r->info->engine ? r->info->engine : "",
                              r->info->precision ? ", " : "", r->info->precision ? r->info->precision : "",
                              r->out_width, r->out_height);
      gimp_progress_set_text (text);
      gimp_progress_update (0.0);
      g_free (text);
    }
  else if (json_object_has_member (obj, "error"))
    {
      g_free (r->error);
      r->error = g_strdup (json_object_get_string_member (obj, "error"));
      if (json_object_has_member (obj, "cancelled"))
        r->cancelled = json_object_get_boolean_member (obj, "cancelled");
    }
  else if (json_object_has_member (obj, "done"))
    {
      r->out_width  = json_object_get_int_member (obj, "width");
      r->out_height = json_object_get_int_member (obj, "height");
      g_free (r->info->provenance);
      g_free (r->info->xmp);
      r->info->provenance = string_member (obj, "provenance");
      r->info->xmp        = string_member (obj, "xmp");
    }
}

static void
handle_stderr (Run *r, const gchar *data, gssize len, gboolean eof)
{
  gchar *newline;

  g_string_append_len (r->line, data, len);
  while ((newline = memchr (r->line->str, '\n', r->line->len)))
    {
      *newline = '\0';
      handle_line (r, r->line->str);
      g_string_erase (r->line, 0, newline - r->line->str + 1);
    }
  if (eof && r->line->len)
    {
      handle_line (r, r->line->str);
      g_string_truncate (r->line, 0);
    }
}

static const gchar *
signal_name (int sig)
{
  switch (sig)
    {
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGINT:  return "SIGINT";
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS:  return "SIGBUS";
    case SIGILL:  return "SIGILL";
    default:      return "a signal";
    }
}

/* Runs the bridge on `in`; on success fills *out (w * h * bpp bytes) and the size. */
gboolean
run_bridge (const gchar   *bridge,
            const Values  *values,
            const gchar   *raw_format,
            gint           bpp,
            gint           width,
            gint           height,
            const guchar  *in,
            gsize          in_len,
            GByteArray   **out,
            gint          *out_width,
            gint          *out_height,
            RunInfo       *info,
            gchar        **error)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  GError    *spawn_error = NULL;
  GPid       pid;
  gint       fd_in = -1, fd_out = -1, fd_err = -1;
  gsize      written = 0;
  gint       status = 0;
  gboolean   ok = FALSE;
  Run        r = { 0 };
  gchar      buf[65536];

  g_ptr_array_add (argv, g_strdup (bridge));
  g_ptr_array_add (argv, g_strdup ("upscale-raw"));
  g_ptr_array_add (argv, g_strdup ("--progress-json"));
  g_ptr_array_add (argv, g_strdup ("--width"));
  g_ptr_array_add (argv, g_strdup_printf ("%d", width));
  g_ptr_array_add (argv, g_strdup ("--height"));
  g_ptr_array_add (argv, g_strdup_printf ("%d", height));
  g_ptr_array_add (argv, g_strdup ("--format"));
  g_ptr_array_add (argv, g_strdup (raw_format));
  if (values->model[0] && g_strcmp0 (values->model, "auto") != 0)
    {
      g_ptr_array_add (argv, g_strdup ("--model"));
      g_ptr_array_add (argv, g_strdup (values->model));
    }
  if (values->scale > 0)
    {
      gchar num[G_ASCII_DTOSTR_BUF_SIZE];
      g_ptr_array_add (argv, g_strdup ("--scale"));
      g_ptr_array_add (argv, g_strdup (g_ascii_dtostr (num, sizeof num, values->scale)));
    }
  if (values->content[0] && (! values->model[0] || g_strcmp0 (values->model, "auto") == 0))
    {
      /* --content chooses the model only when none is named */
      g_ptr_array_add (argv, g_strdup ("--content"));
      g_ptr_array_add (argv, g_strdup (values->content));
    }
  /* "" and auto are the bridge's defaults */
  if (values->engine[0] && g_strcmp0 (values->engine, "auto") != 0)
    {
      g_ptr_array_add (argv, g_strdup ("--engine"));
      g_ptr_array_add (argv, g_strdup (values->engine));
    }
  if (values->precision[0] && g_strcmp0 (values->precision, "auto") != 0)
    {
      g_ptr_array_add (argv, g_strdup ("--precision"));
      g_ptr_array_add (argv, g_strdup (values->precision));
    }
  if (values->denoise > 0)
    {
      /* g_ascii_formatd: always a '.', whatever the locale ("0.50", not "0,50") */
      gchar num[G_ASCII_DTOSTR_BUF_SIZE];
      g_ptr_array_add (argv, g_strdup ("--denoise"));
      g_ptr_array_add (argv, g_strdup (g_ascii_formatd (num, sizeof num, "%.2f",
                                                        CLAMP (values->denoise, 0.0, 1.0))));
    }
  if (values->grain > 0)
    {
      gchar num[G_ASCII_DTOSTR_BUF_SIZE];
      g_ptr_array_add (argv, g_strdup ("--grain"));
      g_ptr_array_add (argv, g_strdup (g_ascii_formatd (num, sizeof num, "%.2f",
                                                        CLAMP (values->grain, 0.0, 1.0))));
    }
  g_ptr_array_add (argv, g_strdup ("-"));
  g_ptr_array_add (argv, g_strdup ("-"));
  g_ptr_array_add (argv, NULL);

  if (! g_spawn_async_with_pipes (NULL, (gchar **) argv->pdata, NULL,
                                  G_SPAWN_DO_NOT_REAP_CHILD,
                                  bridge_child_setup, GINT_TO_POINTER (getpid ()),
                                  &pid, &fd_in, &fd_out, &fd_err, &spawn_error))
    {
      *error = g_strdup_printf ("cannot run the aiupscale program %s: %s.\n"
                                "Install aiupscale and run `aiupscale install gimp` again "
                                "(or set AIUPSCALE_BRIDGE to its path).",
                                bridge, spawn_error->message);
      g_error_free (spawn_error);
      g_ptr_array_free (argv, TRUE);
      return FALSE;
    }
  g_ptr_array_free (argv, TRUE);

  r.bridge = bridge;
  r.parser = json_parser_new ();
  r.line   = g_string_new (NULL);
  r.log    = g_string_new (NULL);
  r.out    = g_byte_array_new ();
  r.bpp    = bpp;
  r.info   = info;

  fcntl (fd_in, F_SETFL, fcntl (fd_in, F_GETFL) | O_NONBLOCK);
  if (in_len == 0)
    {
      close (fd_in);
      fd_in = -1;
    }

  while (fd_in >= 0 || fd_out >= 0 || fd_err >= 0)
    {
      struct pollfd fds[3];
      gint          n = 0, i, in_i = -1, out_i = -1, err_i = -1;

      if (fd_in >= 0)  { in_i  = n; fds[n].fd = fd_in;  fds[n].events = POLLOUT; fds[n++].revents = 0; }
      if (fd_out >= 0) { out_i = n; fds[n].fd = fd_out; fds[n].events = POLLIN;  fds[n++].revents = 0; }
      if (fd_err >= 0) { err_i = n; fds[n].fd = fd_err; fds[n].events = POLLIN;  fds[n++].revents = 0; }

      if (poll (fds, n, 500) < 0)
        {
          if (errno == EINTR)
            continue;
          break;
        }

      for (i = 0; i < n; i++)
        {
          if (! fds[i].revents)
            continue;

          if (i == in_i)
            {
              gssize w = write (fd_in, in + written, MIN (in_len - written, (gsize) 1 << 20));
              if (w > 0)
                written += w;
              if ((w < 0 && errno != EAGAIN && errno != EINTR) || written >= in_len)
                {
                  /* done, or the bridge stopped reading (its error comes on stderr) */
                  close (fd_in);
                  fd_in = -1;
                }
            }
          else if (i == out_i)
            {
              gssize got = read (fd_out, buf, sizeof buf);
              if (got > 0)
                g_byte_array_append (r.out, (const guint8 *) buf, got);
              else if (got == 0 || (errno != EAGAIN && errno != EINTR))
                {
                  close (fd_out);
                  fd_out = -1;
                }
            }
          else if (i == err_i)
            {
              gssize got = read (fd_err, buf, sizeof buf);
              if (got > 0)
                handle_stderr (&r, buf, got, FALSE);
              else if (got == 0 || (errno != EAGAIN && errno != EINTR))
                {
                  handle_stderr (&r, "", 0, TRUE);
                  close (fd_err);
                  fd_err = -1;
                }
            }
        }
    }

  /* Only after a failed poll(): stop reading, and let the bridge see closed pipes. */
  if (fd_in >= 0)
    close (fd_in);
  if (fd_out >= 0)
    close (fd_out);
  if (fd_err >= 0)
    close (fd_err);

  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  g_spawn_close_pid (pid);

  if (WIFSIGNALED (status))
    {
      *error = g_strdup_printf ("the aiupscale program (%s) was killed by signal %d (%s); "
                                "nothing was changed.%s%s",
                                bridge, WTERMSIG (status), signal_name (WTERMSIG (status)),
                                r.log->len ? "\n" : "", r.log->str);
    }
  else if (WIFEXITED (status) && WEXITSTATUS (status) != 0)
    {
      if (r.cancelled || WEXITSTATUS (status) == 143 || WEXITSTATUS (status) == 130)
        *error = g_strdup_printf ("cancelled (%s); nothing was changed.",
                                  r.error ? r.error : "the aiupscale program got a signal");
      else if (r.error)
        *error = g_strdup (r.error);
      else
        *error = g_strdup_printf ("the aiupscale program (%s) failed with exit code %d.%s%s",
                                  bridge, WEXITSTATUS (status),
                                  r.log->len ? "\n" : "", r.log->str);
    }
  else if (r.out_width <= 0 || r.out_height <= 0 ||
           (guint64) r.out->len != (guint64) r.out_width * r.out_height * bpp)
    {
      *error = g_strdup_printf ("the aiupscale program (%s) returned %u bytes for a %d x %d "
                                "%s image; is it the right version?",
                                bridge, r.out->len, r.out_width, r.out_height, raw_format);
    }
  else
    {
      *out        = r.out;
      *out_width  = r.out_width;
      *out_height = r.out_height;
      r.out       = NULL;
      ok          = TRUE;
    }

  if (r.out)
    g_byte_array_free (r.out, TRUE);
  g_object_unref (r.parser);
  g_string_free (r.line, TRUE);
  g_string_free (r.log, TRUE);
  g_free (r.error);
  return ok;
}


/* ------------------------------------------------------------------ models list --json */

static void
model_row_free (gpointer data)
{
  ModelRow *m = data;
  g_free (m->name);
  g_free (m->description);
  g_free (m->content);
  g_free (m->licence);
  g_free (m);
}

/* The member `key` of `obj` when it holds a value of `type` (G_TYPE_STRING,
 * G_TYPE_INT64, G_TYPE_DOUBLE, G_TYPE_BOOLEAN); NULL otherwise. */
static JsonNode *
member (JsonObject *obj, const gchar *key, GType type)
{
  JsonNode *node = json_object_get_member (obj, key);

  if (! node || ! JSON_NODE_HOLDS_VALUE (node))
    return NULL;
  if (type == G_TYPE_DOUBLE)
    return (json_node_get_value_type (node) == G_TYPE_DOUBLE ||
            json_node_get_value_type (node) == G_TYPE_INT64) ? node : NULL;
  return json_node_get_value_type (node) == type ? node : NULL;
}

/* Reads the document of `aiupscale models list --json` (docs/BRIDGE.md); NULL and
 * *error when it is not version 1 of the contract. */
static GPtrArray *
parse_models (const gchar *text, gchar **error)
{
  JsonParser *parser = json_parser_new ();
  GPtrArray  *rows = NULL;
  GError     *parse_error = NULL;
  JsonNode   *root, *version, *models;
  JsonArray  *array;
  guint       i;

  if (! json_parser_load_from_data (parser, text, -1, &parse_error))
    {
      *error = g_strdup_printf ("`aiupscale models list --json` did not print JSON (%s)", parse_error->message);
      g_error_free (parse_error);
      goto out;
    }
  root = json_parser_get_root (parser);
  if (! root || ! JSON_NODE_HOLDS_OBJECT (root))
    {
      *error = g_strdup ("`aiupscale models list --json` did not print a JSON object");
      goto out;
    }
  version = member (json_node_get_object (root), "version", G_TYPE_INT64);
  if (! version || json_node_get_int (version) != BRIDGE_CONTRACT_VERSION)
    {
      gchar *found = version ? g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (version))
                             : g_strdup ("(none)");
      *error = g_strdup_printf ("`aiupscale models list --json` speaks contract version %s; this plug-in "
                                "speaks %d: run `aiupscale install gimp` with the aiupscale you use",
                                found, BRIDGE_CONTRACT_VERSION);
      g_free (found);
      goto out;
    }
  models = json_object_get_member (json_node_get_object (root), "models");
  if (! models || ! JSON_NODE_HOLDS_ARRAY (models))
    {
      *error = g_strdup ("`aiupscale models list --json` has no \"models\" list");
      goto out;
    }
  array = json_node_get_array (models);
  rows = g_ptr_array_new_with_free_func (model_row_free);
  for (i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode   *node = json_array_get_element (array, i);
      JsonObject *obj  = JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      JsonNode   *name, *description, *scale, *content, *cost, *fetched, *licence;
      ModelRow   *m;

      if (! obj ||
          ! (name        = member (obj, "name", G_TYPE_STRING)) ||
          ! (description = member (obj, "description", G_TYPE_STRING)) ||
          ! (scale       = member (obj, "scale", G_TYPE_INT64)) ||
          ! (content     = member (obj, "content", G_TYPE_STRING)) ||
          ! (cost        = member (obj, "cost", G_TYPE_DOUBLE)) ||
          ! (fetched     = member (obj, "fetched", G_TYPE_BOOLEAN)) ||
          ! (licence     = member (obj, "licence", G_TYPE_STRING)))
        {
          *error = g_strdup_printf ("`aiupscale models list --json`: model %u lacks a field of docs/BRIDGE.md "
                                    "(name, description, scale, content, cost, fetched, licence)", i);
          g_ptr_array_free (rows, TRUE);
          rows = NULL;
          goto out;
        }
      m = g_new0 (ModelRow, 1);
      m->name        = g_strdup (json_node_get_string (name));
      m->description = g_strdup (json_node_get_string (description));
      m->scale       = (gint) json_node_get_int (scale);
      m->content     = g_strdup (json_node_get_string (content));
      m->cost        = json_node_get_double (cost);
      m->fetched     = json_node_get_boolean (fetched);
      m->licence     = g_strdup (json_node_get_string (licence));
      g_ptr_array_add (rows, m);
    }

out:
  g_object_unref (parser);
  return rows;
}

/* The catalog from `bridge models list --json`: ModelRow items, or NULL and *error. */
GPtrArray *
list_models (const gchar *bridge, gchar **error)
{
  gchar     *argv[] = { (gchar *) bridge, "models", "list", "--json", NULL };
  gchar     *out = NULL, *err = NULL;
  gint       status = 0;
  GError    *spawn_error = NULL;
  GPtrArray *rows = NULL;

  if (! g_spawn_sync (NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &spawn_error))
    {
      *error = g_strdup_printf ("cannot run `%s models list --json`: %s", bridge, spawn_error->message);
      g_error_free (spawn_error);
    }
  else if (! g_spawn_check_exit_status (status, NULL))
    *error = g_strdup_printf ("`%s models list --json` failed: %s", bridge, err ? g_strstrip (err) : "");
  else
    rows = parse_models (out, error);
  g_free (out);
  g_free (err);
  return rows;
}

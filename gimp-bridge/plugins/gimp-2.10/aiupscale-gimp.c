/* aiupscale-gimp.c: the GIMP 2.10 plug-in of aiupscale.
 *
 * Registers plug-in-aiupscale, <Image>/Filters/Enhance/AI Upscale...:
 *
 *   plug-in-aiupscale (run-mode, image, drawable, model, scale, new-image, denoise)
 *     -> new-image-out
 *
 *   model      catalog name (see `aiupscale models list`), a path to an .onnx file, or
 *              "" / "auto" for the photo model of the scale;
 *   scale      output / input size; <= 0 means the model's native scale;
 *   new-image  1: the result goes into a new image (returned, and shown when
 *              interactive); 0: the image is resized and the layer replaced, in one
 *              undo group (new-image-out is then -1);
 *   denoise    edge-preserving denoise before upscaling, 0 (off) to 1 (`--denoise`);
 *              it comes last and may be left out (callers from before it existed
 *              pass 6 values: denoise is then 0).
 *
 * The plug-in is a thin front: it sends the layer's pixels to the aiupscale program
 * (`aiupscale upscale-raw --progress-json ... - -`) through a pipe, shows its progress
 * lines in GIMP's progress bar and reads the upscaled pixels back. Formats: 8-bit
 * images travel as rgb8/rgba8/gray8/graya8, 16-bit ones as *16, 32-bit and float
 * ones as *f32 (in 0..1); alpha is kept. Indexed images are refused.
 *
 * The aiupscale program is found, first match wins:
 *   1. the environment variable AIUPSCALE_BRIDGE (a path);
 *   2. the file `bridge-path` beside this plug-in (written by `aiupscale install gimp`);
 *   3. `bridge-path` in <gimp-directory>/plug-ins/aiupscale/;
 *   4. `aiupscale` on PATH.
 *
 * Cancelling: GIMP's cancel button closes (kills) the plug-in; the bridge is started
 * with PR_SET_PDEATHSIG = SIGTERM, so it then stops before its next tile, writes
 * nothing and exits 143. Nothing has been changed in GIMP at that point.
 *
 * Errors (no bridge, model not fetched, bridge killed, ...) are returned as
 * GIMP_PDB_EXECUTION_ERROR with the text as second return value, which GIMP shows in a
 * message when the user ran the filter; non-interactive calls also send it to
 * gimp_message (the error console, stderr in batch mode). The image is left untouched.
 */

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
#include <libgimp/gimp.h>
#include <libgimp/gimpui.h>

#define PLUG_IN_PROC   "plug-in-aiupscale"
#define PLUG_IN_BINARY "aiupscale"
#define PLUG_IN_ROLE   "aiupscale"
#define MODEL_LEN      1024

typedef struct
{
  gchar    model[MODEL_LEN]; /* "" = auto */
  gdouble  scale;            /* <= 0: the model's native scale */
  gint32   new_image;
  gdouble  denoise;          /* 0 (off) .. 1; last, so older saved values still load */
} Values;

static Values values = { "", 2.0, TRUE, 0.0 };

/* How the current call was made (for error reporting). */
static GimpRunMode run_mode_now = GIMP_RUN_NONINTERACTIVE;

/* argv[0]: GIMP starts plug-ins by their full path. */
static const gchar *plug_in_path = NULL;

static void query (void);
static void run   (const gchar      *name,
                   gint              nparams,
                   const GimpParam  *param,
                   gint             *nreturn_vals,
                   GimpParam       **return_vals);

const GimpPlugInInfo PLUG_IN_INFO = { NULL, NULL, query, run };

int
main (int argc, char *argv[])
{
  if (argc > 0)
    plug_in_path = argv[0];
  return gimp_main (&PLUG_IN_INFO, argc, argv);
}

static void
query (void)
{
  static const GimpParamDef args[] =
  {
    { GIMP_PDB_INT32,    "run-mode",  "The run mode { RUN-INTERACTIVE (0), RUN-NONINTERACTIVE (1) }" },
    { GIMP_PDB_IMAGE,    "image",     "Input image" },
    { GIMP_PDB_DRAWABLE, "drawable",  "Input layer" },
    { GIMP_PDB_STRING,   "model",     "Model: a name from `aiupscale models list`, a path to an .onnx file, or \"\" for the photo model of the scale" },
    { GIMP_PDB_FLOAT,    "scale",     "Scale factor (e.g. 2, 3.5); <= 0 for the model's native scale" },
    { GIMP_PDB_INT32,    "new-image", "1: put the result in a new image; 0: resize this image and replace the layer (one undo step)" },
    { GIMP_PDB_FLOAT,    "denoise",   "Edge-preserving denoise before upscaling, 0 (off) to 1" }
  };
  static const GimpParamDef return_vals[] =
  {
    { GIMP_PDB_IMAGE,    "new-image", "The new image, or -1 when the image was resized in place" }
  };

  gimp_install_procedure (PLUG_IN_PROC,
                          "Upscale a layer with an AI super-resolution model",
                          "Runs the aiupscale program (ONNX models such as Real-ESRGAN, "
                          "waifu2x or Anime4K) on the layer and puts the result into a new "
                          "image, or resizes the image and replaces the layer. Alpha is kept; "
                          "8/16-bit and float RGB and grayscale images are supported, indexed "
                          "ones are not. Fetch models first with `aiupscale models fetch NAME`.",
                          "aiupscale authors",
                          "MIT OR Apache-2.0",
                          "2026",
                          "AI _Upscale\xe2\x80\xa6",
                          "RGB*, GRAY*",
                          GIMP_PLUGIN,
                          G_N_ELEMENTS (args), G_N_ELEMENTS (return_vals),
                          args, return_vals);

  gimp_plugin_menu_register (PLUG_IN_PROC, "<Image>/Filters/Enhance");
}

/* ------------------------------------------------------------------ the bridge */

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
static gchar *
find_bridge (gchar **origin)
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
} Run;

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
      text = g_strdup_printf ("AI Upscale: %s (%s) \xe2\x86\x92 %d \xc3\x97 %d",
                              json_object_has_member (obj, "model")
                                ? json_object_get_string_member (obj, "model") : "?",
                              json_object_has_member (obj, "device")
                                ? json_object_get_string_member (obj, "device") : "?",
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
static gboolean
run_bridge (const gchar   *bridge,
            const gchar   *raw_format,
            gint           bpp,
            gint           width,
            gint           height,
            const guchar  *in,
            gsize          in_len,
            GByteArray   **out,
            gint          *out_width,
            gint          *out_height,
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
  if (values.model[0] && g_strcmp0 (values.model, "auto") != 0)
    {
      g_ptr_array_add (argv, g_strdup ("--model"));
      g_ptr_array_add (argv, g_strdup (values.model));
    }
  if (values.scale > 0)
    {
      gchar num[G_ASCII_DTOSTR_BUF_SIZE];
      g_ptr_array_add (argv, g_strdup ("--scale"));
      g_ptr_array_add (argv, g_strdup (g_ascii_dtostr (num, sizeof num, values.scale)));
    }
  if (values.denoise > 0)
    {
      /* g_ascii_formatd: always a '.', whatever the locale ("0.50", not "0,50") */
      gchar num[G_ASCII_DTOSTR_BUF_SIZE];
      g_ptr_array_add (argv, g_strdup ("--denoise"));
      g_ptr_array_add (argv, g_strdup (g_ascii_formatd (num, sizeof num, "%.2f",
                                                        CLAMP (values.denoise, 0.0, 1.0))));
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

/* ------------------------------------------------------------------ the dialog */

typedef struct
{
  gchar   *name;
  gint     scale;
  gchar   *content;
  gchar   *cost;
  gchar   *status;   /* a path, or "not fetched" */
} ModelRow;

static void
model_row_free (gpointer data)
{
  ModelRow *m = data;
  g_free (m->name);
  g_free (m->content);
  g_free (m->cost);
  g_free (m->status);
  g_free (m);
}

/* Parses the table of `aiupscale models list`. */
static GPtrArray *
list_models (const gchar *bridge)
{
  GPtrArray *rows = g_ptr_array_new_with_free_func (model_row_free);
  gchar     *argv[] = { (gchar *) bridge, "models", "list", NULL };
  gchar     *out = NULL;
  gint       status = 0;

  if (g_spawn_sync (NULL, argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                    &out, NULL, &status, NULL) && status == 0 && out)
    {
      gchar **lines = g_strsplit (out, "\n", -1);
      gint    i;

      for (i = 1; lines[i] && *lines[i]; i++)
        {
          gchar **tok = g_strsplit_set (lines[i], " \t", -1);
          GPtrArray *words = g_ptr_array_new ();
          gint j;

          for (j = 0; tok[j]; j++)
            if (*tok[j])
              g_ptr_array_add (words, tok[j]);
          if (words->len >= 6 && ((gchar *) words->pdata[1])[0] == 'x')
            {
              ModelRow *m = g_new0 (ModelRow, 1);
              GString  *status_text = g_string_new (NULL);

              m->name    = g_strdup (words->pdata[0]);
              m->scale   = atoi ((gchar *) words->pdata[1] + 1);
              m->content = g_strdup (words->pdata[2]);
              m->cost    = g_strdup_printf ("%s %s", (gchar *) words->pdata[3], (gchar *) words->pdata[4]);
              for (j = 5; j < (gint) words->len; j++)
                {
                  if (status_text->len)
                    g_string_append_c (status_text, ' ');
                  g_string_append (status_text, words->pdata[j]);
                }
              m->status = g_string_free (status_text, FALSE);
              g_ptr_array_add (rows, m);
            }
          g_ptr_array_free (words, TRUE);
          g_strfreev (tok);
        }
      g_strfreev (lines);
    }
  g_free (out);
  return rows;
}

typedef struct
{
  GPtrArray   *models;
  GtkWidget   *combo;
  GtkWidget   *info;
  GtkWidget   *native;
  GtkWidget   *scale;
  GtkWidget   *size;
  gint         width;
  gint         height;
} Dialog;

static const ModelRow *
dialog_model (Dialog *d)
{
  const gchar *text = gtk_entry_get_text (GTK_ENTRY (gtk_bin_get_child (GTK_BIN (d->combo))));
  guint i;

  for (i = 0; i < d->models->len; i++)
    {
      const ModelRow *m = g_ptr_array_index (d->models, i);
      if (g_strcmp0 (m->name, text) == 0)
        return m;
    }
  return NULL;
}

static void
dialog_update (GtkWidget *widget, Dialog *d)
{
  const ModelRow *m      = dialog_model (d);
  const gchar    *text   = gtk_entry_get_text (GTK_ENTRY (gtk_bin_get_child (GTK_BIN (d->combo))));
  gboolean        is_auto = ! *text || g_strcmp0 (text, "auto") == 0;
  gboolean        native = gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (d->native));
  gdouble         scale  = gtk_spin_button_get_value (GTK_SPIN_BUTTON (d->scale));
  gchar          *info;
  gchar          *size;

  (void) widget;
  if (m && m->status[0] == '/')
    info = g_strdup_printf ("x%d \xc2\xb7 %s \xc2\xb7 %s \xc2\xb7 fetched", m->scale, m->content, m->cost);
  else if (m)
    info = g_strdup_printf ("x%d \xc2\xb7 %s \xc2\xb7 %s \xc2\xb7 not fetched: run "
                            "`aiupscale models fetch %s` first",
                            m->scale, m->content, m->cost, m->name);
  else if (is_auto)
    info = g_strdup ("auto: the photo model for the scale "
                     "(waifu2x-photo-x2 up to x2, realesrgan-x4plus above)");
  else
    info = g_strdup ("a model file (.onnx) or a name not in the catalog");
  gtk_label_set_text (GTK_LABEL (d->info), info);
  g_free (info);

  gtk_widget_set_sensitive (d->scale, ! native);
  if (native)
    scale = m ? m->scale : (is_auto ? 4.0 : 0.0);
  if (scale > 0)
    size = g_strdup_printf ("%d \xc3\x97 %d px  \xe2\x86\x92  %d \xc3\x97 %d px",
                            d->width, d->height,
                            (gint) (d->width * scale + 0.5), (gint) (d->height * scale + 0.5));
  else
    size = g_strdup_printf ("%d \xc3\x97 %d px  \xe2\x86\x92  the model's native scale",
                            d->width, d->height);
  gtk_label_set_text (GTK_LABEL (d->size), size);
  g_free (size);
}

static gboolean
show_dialog (const gchar *bridge, gint32 drawable)
{
  Dialog     d = { 0 };
  GtkWidget *dialog, *vbox, *table, *label, *new_image, *denoise;
  guint      i;
  gboolean   ok;
  gint       row = 0;

  gimp_ui_init (PLUG_IN_BINARY, FALSE);

  d.models = list_models (bridge);
  d.width  = gimp_drawable_width (drawable);
  d.height = gimp_drawable_height (drawable);

  dialog = gimp_dialog_new ("AI Upscale", PLUG_IN_ROLE, NULL, 0,
                            gimp_standard_help_func, PLUG_IN_PROC,
                            "_Cancel", GTK_RESPONSE_CANCEL,
                            "_OK",     GTK_RESPONSE_OK,
                            NULL);
  gtk_dialog_set_alternative_button_order (GTK_DIALOG (dialog), GTK_RESPONSE_OK,
                                            GTK_RESPONSE_CANCEL, -1);
  gimp_window_set_transient (GTK_WINDOW (dialog));

  vbox = gtk_vbox_new (FALSE, 12);
  gtk_container_set_border_width (GTK_CONTAINER (vbox), 12);
  gtk_box_pack_start (GTK_BOX (gtk_dialog_get_content_area (GTK_DIALOG (dialog))),
                      vbox, TRUE, TRUE, 0);

  table = gtk_table_new (6, 2, FALSE);
  gtk_table_set_col_spacings (GTK_TABLE (table), 6);
  gtk_table_set_row_spacings (GTK_TABLE (table), 6);
  gtk_box_pack_start (GTK_BOX (vbox), table, FALSE, FALSE, 0);

  /* model */
  d.combo = gtk_combo_box_text_new_with_entry ();
  gtk_combo_box_text_append_text (GTK_COMBO_BOX_TEXT (d.combo), "auto");
  for (i = 0; i < d.models->len; i++)
    gtk_combo_box_text_append_text (GTK_COMBO_BOX_TEXT (d.combo),
                                    ((ModelRow *) g_ptr_array_index (d.models, i))->name);
  gtk_entry_set_text (GTK_ENTRY (gtk_bin_get_child (GTK_BIN (d.combo))),
                      values.model[0] ? values.model : "auto");
  gtk_widget_set_size_request (d.combo, 320, -1);
  gtk_entry_set_activates_default (GTK_ENTRY (gtk_bin_get_child (GTK_BIN (d.combo))), TRUE);
  label = gtk_label_new_with_mnemonic ("_Model:");
  gtk_label_set_mnemonic_widget (GTK_LABEL (label), d.combo);
  gtk_misc_set_alignment (GTK_MISC (label), 0.0, 0.5);
  gtk_table_attach (GTK_TABLE (table), label, 0, 1, row, row + 1, GTK_FILL, GTK_FILL, 0, 0);
  gtk_table_attach (GTK_TABLE (table), d.combo, 1, 2, row, row + 1, GTK_FILL | GTK_EXPAND, GTK_FILL, 0, 0);
  row++;

  d.info = gtk_label_new (NULL);
  gtk_misc_set_alignment (GTK_MISC (d.info), 0.0, 0.5);
  gtk_label_set_line_wrap (GTK_LABEL (d.info), TRUE);
  gimp_label_set_attributes (GTK_LABEL (d.info), PANGO_ATTR_STYLE, PANGO_STYLE_ITALIC, -1);
  gtk_table_attach (GTK_TABLE (table), d.info, 1, 2, row, row + 1, GTK_FILL, GTK_FILL, 0, 0);
  row++;

  /* scale */
  d.native = gtk_check_button_new_with_mnemonic ("Use the model's _native scale");
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (d.native), values.scale <= 0);
  gtk_table_attach (GTK_TABLE (table), d.native, 1, 2, row, row + 1, GTK_FILL, GTK_FILL, 0, 0);
  row++;

  d.scale = gimp_spin_button_new_with_range (0.25, 16.0, 0.25);
  gtk_spin_button_set_digits (GTK_SPIN_BUTTON (d.scale), 2);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (d.scale), values.scale > 0 ? values.scale : 2.0);
  label = gtk_label_new_with_mnemonic ("_Scale:");
  gtk_label_set_mnemonic_widget (GTK_LABEL (label), d.scale);
  gtk_misc_set_alignment (GTK_MISC (label), 0.0, 0.5);
  gtk_table_attach (GTK_TABLE (table), label, 0, 1, row, row + 1, GTK_FILL, GTK_FILL, 0, 0);
  gtk_table_attach (GTK_TABLE (table), d.scale, 1, 2, row, row + 1, GTK_FILL, GTK_FILL, 0, 0);
  row++;

  d.size = gtk_label_new (NULL);
  gtk_misc_set_alignment (GTK_MISC (d.size), 0.0, 0.5);
  label = gtk_label_new ("Size:");
  gtk_misc_set_alignment (GTK_MISC (label), 0.0, 0.5);
  gtk_table_attach (GTK_TABLE (table), label, 0, 1, row, row + 1, GTK_FILL, GTK_FILL, 0, 0);
  gtk_table_attach (GTK_TABLE (table), d.size, 1, 2, row, row + 1, GTK_FILL, GTK_FILL, 0, 0);
  row++;

  /* denoise */
  denoise = gimp_spin_button_new_with_range (0.0, 1.0, 0.05);
  gtk_spin_button_set_digits (GTK_SPIN_BUTTON (denoise), 2);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (denoise), CLAMP (values.denoise, 0.0, 1.0));
  gimp_help_set_help_data (denoise,
                           "Edge-preserving denoise before upscaling, tuned to the noise "
                           "measured in the image: 0 is off, 1 the strongest", NULL);
  label = gtk_label_new_with_mnemonic ("_Denoise:");
  gtk_label_set_mnemonic_widget (GTK_LABEL (label), denoise);
  gtk_misc_set_alignment (GTK_MISC (label), 0.0, 0.5);
  gtk_table_attach (GTK_TABLE (table), label, 0, 1, row, row + 1, GTK_FILL, GTK_FILL, 0, 0);
  gtk_table_attach (GTK_TABLE (table), denoise, 1, 2, row, row + 1, GTK_FILL, GTK_FILL, 0, 0);

  /* destination */
  new_image = gtk_check_button_new_with_mnemonic ("Put the result in a new _image "
                                                  "(off: resize this image)");
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (new_image), values.new_image);
  gtk_box_pack_start (GTK_BOX (vbox), new_image, FALSE, FALSE, 0);

  g_signal_connect (d.combo,  "changed",       G_CALLBACK (dialog_update), &d);
  g_signal_connect (d.native, "toggled",       G_CALLBACK (dialog_update), &d);
  g_signal_connect (d.scale,  "value-changed", G_CALLBACK (dialog_update), &d);
  dialog_update (NULL, &d);

  gtk_widget_show_all (dialog);
  ok = gimp_dialog_run (GIMP_DIALOG (dialog)) == GTK_RESPONSE_OK;

  if (ok)
    {
      const gchar *text = gtk_entry_get_text (GTK_ENTRY (gtk_bin_get_child (GTK_BIN (d.combo))));
      gchar       *model = g_strstrip (g_strdup (text));

      g_strlcpy (values.model, g_strcmp0 (model, "auto") == 0 ? "" : model, sizeof values.model);
      g_free (model);
      values.scale = gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (d.native))
                       ? 0.0 : gtk_spin_button_get_value (GTK_SPIN_BUTTON (d.scale));
      values.new_image = gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (new_image));
      values.denoise = gtk_spin_button_get_value (GTK_SPIN_BUTTON (denoise));
    }

  gtk_widget_destroy (dialog);
  g_ptr_array_free (d.models, TRUE);
  return ok;
}

/* ------------------------------------------------------------------ run */

typedef struct
{
  const gchar  *raw;         /* upscale-raw --format */
  const Babl   *babl;
  gint          bpp;
  GimpImageType layer_type;
} Plan;

static void
plan_pixels (gint32 image, gint32 drawable, Plan *p)
{
  gboolean     alpha = gimp_drawable_has_alpha (drawable);
  gboolean     gray  = gimp_drawable_is_gray (drawable);
  const gchar *depth, *raw_depth;
  gchar       *babl_name, *raw;

  switch (gimp_image_get_precision (image))
    {
    case GIMP_PRECISION_U8_LINEAR:
    case GIMP_PRECISION_U8_GAMMA:
      depth = "u8"; raw_depth = "8";
      break;
    case GIMP_PRECISION_U16_LINEAR:
    case GIMP_PRECISION_U16_GAMMA:
      depth = "u16"; raw_depth = "16";
      break;
    default: /* 32-bit integer, half and float: as float in 0..1 */
      depth = "float"; raw_depth = "f32";
      break;
    }

  /* Perceptual (R'G'B') samples: the models are trained on sRGB-encoded pixels. */
  babl_name = g_strdup_printf ("%s %s", gray ? (alpha ? "Y'A" : "Y'") : (alpha ? "R'G'B'A" : "R'G'B'"), depth);
  p->babl = babl_format (babl_name);
  g_free (babl_name);
  p->bpp = babl_format_get_bytes_per_pixel (p->babl);
  raw = g_strconcat (gray ? (alpha ? "graya" : "gray") : (alpha ? "rgba" : "rgb"), raw_depth, NULL);
  p->raw = g_intern_string (raw);
  g_free (raw);
  p->layer_type = gray ? (alpha ? GIMP_GRAYA_IMAGE : GIMP_GRAY_IMAGE)
                       : (alpha ? GIMP_RGBA_IMAGE : GIMP_RGB_IMAGE);
}

static gint32
put_in_new_image (gint32 image, gint32 drawable, const Plan *p,
                  const guchar *pixels, gint ow, gint oh, gboolean show)
{
  gint32            new_image, layer;
  GeglBuffer       *buffer;
  GimpColorProfile *profile;
  gchar            *old_name = gimp_item_get_name (drawable);
  gchar            *name = g_strdup_printf ("%s (AI upscaled)", old_name);

  new_image = gimp_image_new_with_precision (ow, oh, gimp_image_base_type (image),
                                             gimp_image_get_precision (image));
  gimp_image_undo_disable (new_image);
  profile = gimp_image_get_color_profile (image);
  if (profile)
    {
      gimp_image_set_color_profile (new_image, profile);
      g_object_unref (profile);
    }
  {
    gdouble xres, yres;
    if (gimp_image_get_resolution (image, &xres, &yres))
      gimp_image_set_resolution (new_image, xres * ow / gimp_drawable_width (drawable),
                                 yres * oh / gimp_drawable_height (drawable));
  }

  layer = gimp_layer_new (new_image, name, ow, oh, p->layer_type, 100.0,
                          gimp_image_get_default_new_layer_mode (new_image));
  gimp_image_insert_layer (new_image, layer, 0, 0);
  buffer = gimp_drawable_get_buffer (layer);
  gegl_buffer_set (buffer, GEGL_RECTANGLE (0, 0, ow, oh), 0, p->babl, pixels, GEGL_AUTO_ROWSTRIDE);
  g_object_unref (buffer);
  gimp_drawable_update (layer, 0, 0, ow, oh);
  gimp_image_undo_enable (new_image);
  gimp_image_clean_all (new_image);

  if (show)
    gimp_display_new (new_image);

  g_free (old_name);
  g_free (name);
  return new_image;
}

static void
put_in_place (gint32 image, gint32 drawable, const Plan *p,
              const guchar *pixels, gint ow, gint oh)
{
  gint        w  = gimp_drawable_width (drawable);
  gint        h  = gimp_drawable_height (drawable);
  gdouble     sx = (gdouble) ow / w;
  gdouble     sy = (gdouble) oh / h;
  gint        ox, oy;
  GeglBuffer *shadow;

  gimp_drawable_offsets (drawable, &ox, &oy);

  gimp_image_undo_group_start (image);

  /* The other layers, channels and paths follow with GIMP's interpolation. */
  gimp_image_scale (image,
                    MAX (1, (gint) (gimp_image_width (image) * sx + 0.5)),
                    MAX (1, (gint) (gimp_image_height (image) * sy + 0.5)));
  if (gimp_drawable_width (drawable) != ow || gimp_drawable_height (drawable) != oh)
    gimp_layer_scale (drawable, ow, oh, FALSE);
  gimp_layer_set_offsets (drawable, (gint) (ox * sx + (ox >= 0 ? 0.5 : -0.5)),
                          (gint) (oy * sy + (oy >= 0 ? 0.5 : -0.5)));

  shadow = gimp_drawable_get_shadow_buffer (drawable);
  gegl_buffer_set (shadow, GEGL_RECTANGLE (0, 0, ow, oh), 0, p->babl, pixels, GEGL_AUTO_ROWSTRIDE);
  gegl_buffer_flush (shadow);
  g_object_unref (shadow);
  gimp_drawable_merge_shadow (drawable, TRUE);
  gimp_drawable_update (drawable, 0, 0, ow, oh);

  gimp_image_undo_group_end (image);
}

/* The error goes back as the second return value. When the user ran the filter, GIMP
 * shows it ("Execution error for 'AI Upscale'"); for scripts it is also sent to
 * gimp_message (the error console, or stderr in batch mode). */
static void
fail (GimpParam *vals, gint *nreturn_vals, gchar *message)
{
  gchar *text = g_strdup_printf ("AI Upscale: %s", message);

  if (run_mode_now == GIMP_RUN_NONINTERACTIVE)
    gimp_message (text);
  vals[0].data.d_status = GIMP_PDB_EXECUTION_ERROR;
  vals[1].type = GIMP_PDB_STRING;
  vals[1].data.d_string = text; /* returned to the caller; lives until exit */
  *nreturn_vals = 2;
  g_free (message);
}

static void
run (const gchar      *name,
     gint              nparams,
     const GimpParam  *param,
     gint             *nreturn_vals,
     GimpParam       **return_vals)
{
  static GimpParam vals[2];
  GimpRunMode      run_mode = param[0].data.d_int32;
  gint32           image    = param[1].data.d_image;
  gint32           drawable = param[2].data.d_drawable;
  gchar           *bridge, *origin = NULL;
  Plan             plan;
  gint             w, h, ow = 0, oh = 0;
  guchar          *pixels;
  GByteArray      *out = NULL;
  gchar           *error = NULL;
  GeglBuffer      *buffer;

  (void) name;
  run_mode_now  = run_mode;
  *nreturn_vals = 2;
  *return_vals  = vals;
  vals[0].type = GIMP_PDB_STATUS;
  vals[0].data.d_status = GIMP_PDB_SUCCESS;
  vals[1].type = GIMP_PDB_IMAGE;
  vals[1].data.d_image = -1;

  signal (SIGPIPE, SIG_IGN);
  gegl_init (NULL, NULL);

  switch (run_mode)
    {
    case GIMP_RUN_INTERACTIVE:
    case GIMP_RUN_WITH_LAST_VALS:
      gimp_get_data (PLUG_IN_PROC, &values);
      values.model[MODEL_LEN - 1] = '\0';
      break;
    case GIMP_RUN_NONINTERACTIVE:
      /* 7 with denoise; 6 from callers written before it existed */
      if (nparams != 6 && nparams != 7)
        {
          vals[0].data.d_status = GIMP_PDB_CALLING_ERROR;
          return;
        }
      g_strlcpy (values.model, param[3].data.d_string ? param[3].data.d_string : "",
                 sizeof values.model);
      values.scale     = param[4].data.d_float;
      values.new_image = param[5].data.d_int32 != 0;
      values.denoise   = nparams > 6 ? param[6].data.d_float : 0.0;
      if (! (values.denoise >= 0.0 && values.denoise <= 1.0)) /* NaN too */
        {
          fail (vals, nreturn_vals,
                g_strdup_printf ("denoise must be between 0 and 1, not %g.", values.denoise));
          return;
        }
      break;
    default:
      break;
    }

  if (gimp_drawable_is_indexed (drawable) || gimp_image_base_type (image) == GIMP_INDEXED)
    {
      fail (vals, nreturn_vals,
            g_strdup ("indexed images are not supported: convert the image to RGB first "
                      "(Image \xe2\x96\xb8 Mode \xe2\x96\xb8 RGB)."));
      return;
    }
  if (! gimp_item_is_layer (drawable))
    {
      fail (vals, nreturn_vals,
            g_strdup ("select a layer: masks and channels cannot be upscaled."));
      return;
    }

  bridge = find_bridge (&origin);
  if (! bridge)
    {
      fail (vals, nreturn_vals,
            g_strdup ("cannot find the aiupscale program: it is not on PATH and no "
                      "bridge-path file was found. Install aiupscale and run "
                      "`aiupscale install gimp` (or set AIUPSCALE_BRIDGE to its path)."));
      g_free (origin);
      return;
    }
  if (! g_file_test (bridge, G_FILE_TEST_IS_EXECUTABLE) || g_file_test (bridge, G_FILE_TEST_IS_DIR))
    {
      fail (vals, nreturn_vals,
            g_strdup_printf ("the aiupscale program %s (from %s) does not exist or is not "
                             "executable. Reinstall aiupscale and run `aiupscale install gimp` "
                             "again (or set AIUPSCALE_BRIDGE to its path).", bridge, origin));
      g_free (bridge);
      g_free (origin);
      return;
    }

  if (run_mode == GIMP_RUN_INTERACTIVE && ! show_dialog (bridge, drawable))
    {
      vals[0].data.d_status = GIMP_PDB_CANCEL;
      g_free (bridge);
      g_free (origin);
      return;
    }

  plan_pixels (image, drawable, &plan);
  w = gimp_drawable_width (drawable);
  h = gimp_drawable_height (drawable);
  pixels = g_try_malloc ((gsize) w * h * plan.bpp);
  if (! pixels)
    {
      fail (vals, nreturn_vals, g_strdup_printf ("not enough memory for a %d x %d layer.", w, h));
      g_free (bridge);
      g_free (origin);
      return;
    }
  buffer = gimp_drawable_get_buffer (drawable);
  gegl_buffer_get (buffer, GEGL_RECTANGLE (0, 0, w, h), 1.0, plan.babl, pixels,
                   GEGL_AUTO_ROWSTRIDE, GEGL_ABYSS_NONE);
  g_object_unref (buffer);

  gimp_progress_init ("AI upscaling: loading the model\xe2\x80\xa6");
  gimp_progress_pulse ();

  if (! run_bridge (bridge, plan.raw, plan.bpp, w, h, pixels, (gsize) w * h * plan.bpp,
                    &out, &ow, &oh, &error))
    {
      g_free (pixels);
      gimp_progress_end ();
      fail (vals, nreturn_vals, error);
      g_free (bridge);
      g_free (origin);
      return;
    }
  g_free (pixels);

  gimp_progress_set_text ("AI upscaling: placing the result");
  gimp_progress_update (1.0);

  if (values.new_image)
    vals[1].data.d_image = put_in_new_image (image, drawable, &plan, out->data, ow, oh,
                                             run_mode != GIMP_RUN_NONINTERACTIVE);
  else
    put_in_place (image, drawable, &plan, out->data, ow, oh);

  g_byte_array_free (out, TRUE);
  gimp_progress_end ();

  if (run_mode != GIMP_RUN_NONINTERACTIVE)
    gimp_displays_flush ();
  if (run_mode == GIMP_RUN_INTERACTIVE)
    gimp_set_data (PLUG_IN_PROC, &values, sizeof values);

  g_free (bridge);
  g_free (origin);
}

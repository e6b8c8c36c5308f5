/* plugin.c: the GIMP 2.10 plug-in of aiupscale, its registration and procedure.
 *
 * Registers plug-in-aiupscale, <Image>/Filters/Enhance/AI Upscale...:
 *
 *   plug-in-aiupscale (run-mode, image, drawable, model, scale, new-image, denoise,
 *                      content, grain, engine, precision, provenance) -> new-image-out
 *
 *   model      catalog name (see `aiupscale models list`), a path to an .onnx file, or
 *              "" / "auto" for the catalog's model for `content` and the scale (fetched
 *              on first use);
 *   scale      output / input size; <= 0 means the model's native scale;
 *   new-image  1: the result goes into a new image (returned, and shown when
 *              interactive); 0: the image is resized and the layer replaced, in one
 *              undo group (new-image-out is then -1);
 *   denoise    edge-preserving denoise before upscaling, 0 (off) to 1 (`--denoise`);
 *              it may be left out (callers from before it existed pass 6 values);
 *   content    photo, footage, animation, realtime or "" (photo): what the picture is,
 *              for the model "" (`--content`);
 *   grain      fine film-like grain after upscaling, 0 (off) to 1 (`--grain`); content
 *              and grain come together and may be left out (7 values: photo, 0);
 *   engine     auto, ort, openvino or "" (auto) (`--engine`);
 *   precision  auto, fp32, bf16, int8 or "" (auto) (`--precision`); one that cannot run
 *              here is an error with the bridge's message;
 *   provenance 1: record "AI-upscaled by aiupscale ... with the model ..." in the result
 *              image's metadata (0: not, as `aiupscale upscale --no-provenance`); the last
 *              three come together and may be left out (9 values: auto, auto, 1) by
 *              callers through libgimp; Script-Fu checks the count and passes all 12.
 *
 * Provenance: the bridge's XMP packet is merged into the image's metadata (what the
 * image held stays; a new image starts from the source's) and its text is added to the
 * image comment (parasite gimp-comment): exports that write metadata or the comment
 * carry it (PNG: XMP and the Comment text; JPEG: XMP and the COM segment).
 *
 * The plug-in is a thin front: it sends the layer's pixels to the aiupscale program
 * (`aiupscale upscale-raw --progress-json ... - -`) through a pipe, shows its progress
 * lines in GIMP's progress bar and reads the upscaled pixels back; the dialog lists
 * `aiupscale models list --json`. Both follow the contract of docs/BRIDGE.md.
 * Formats: 8-bit images travel as rgb8/rgba8/gray8/graya8, 16-bit ones as *16, 32-bit and float
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
 *
 * The parts: see aiupscale-gimp.h.
 */

#include <signal.h>
#include <string.h>

#include "aiupscale-gimp.h"

static Values values = { "", 2.0, TRUE, 0.0, "photo", 0.0, "auto", "auto", TRUE };

const gchar *const CONTENT_CHOICES[4]   = { "photo", "footage", "animation", "realtime" };
const gchar *const ENGINE_CHOICES[3]    = { "auto", "ort", "openvino" };
const gchar *const PRECISION_CHOICES[4] = { "auto", "fp32", "bf16", "int8" };

/* `name` is "" or one of `choices`; else an error message naming them. */
static gchar *
check_choice (const gchar *what, const gchar *name, const gchar *const *choices, guint n)
{
  gchar *list;
  gchar *message;
  guint  i;

  if (! name[0])
    return NULL;
  for (i = 0; i < n; i++)
    if (g_strcmp0 (choices[i], name) == 0)
      return NULL;
  list = g_strjoinv (", ", (gchar **) choices);
  message = g_strdup_printf ("%s must be one of %s, not \"%s\".", what, list, name);
  g_free (list);
  return message;
}

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
    { GIMP_PDB_STRING,   "model",     "Model: a name from `aiupscale models list`, a path to an .onnx file, or \"\" for the catalog's model for content and scale" },
    { GIMP_PDB_FLOAT,    "scale",     "Scale factor (e.g. 2, 3.5); <= 0 for the model's native scale" },
    { GIMP_PDB_INT32,    "new-image", "1: put the result in a new image; 0: resize this image and replace the layer (one undo step)" },
    { GIMP_PDB_FLOAT,    "denoise",   "Edge-preserving denoise before upscaling, 0 (off) to 1" },
    { GIMP_PDB_STRING,   "content",   "What the picture is, for the model \"\": photo, footage, animation, realtime (\"\" = photo)" },
    { GIMP_PDB_FLOAT,    "grain",     "Fine film-like grain after upscaling, 0 (off) to 1" },
    { GIMP_PDB_STRING,   "engine",    "Inference engine: auto, ort, openvino (\"\" = auto)" },
    { GIMP_PDB_STRING,   "precision", "Arithmetic precision: auto, fp32, bf16, int8 (\"\" = auto)" },
    { GIMP_PDB_INT32,    "provenance", "1: record in the result's metadata that it was AI-upscaled, by which model; 0: not" }
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
                          "ones are not. A model not in the cache is fetched on first use. "
                          "The result's metadata records that it was AI-upscaled.",
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
  RunInfo          info = { 0 };
  gint32           result;

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
      /* 12 with engine, precision and provenance; 9, 7 and 6 from callers written
       * before they existed */
      if (nparams != 6 && nparams != 7 && nparams != 9 && nparams != 12)
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
      g_strlcpy (values.content, nparams > 7 && param[7].data.d_string ? param[7].data.d_string : "",
                 sizeof values.content);
      values.grain = nparams > 8 ? param[8].data.d_float : 0.0;
      {
        gchar *bad = check_choice ("content", nparams > 7 && param[7].data.d_string ? param[7].data.d_string : "",
                                   CONTENT_CHOICES, G_N_ELEMENTS (CONTENT_CHOICES));
        if (bad)
          {
            fail (vals, nreturn_vals, bad);
            return;
          }
      }
      if (! (values.grain >= 0.0 && values.grain <= 1.0))
        {
          fail (vals, nreturn_vals, g_strdup_printf ("grain must be between 0 and 1, not %g.", values.grain));
          return;
        }
      g_strlcpy (values.engine, nparams > 9 && param[9].data.d_string ? param[9].data.d_string : "",
                 sizeof values.engine);
      g_strlcpy (values.precision, nparams > 10 && param[10].data.d_string ? param[10].data.d_string : "",
                 sizeof values.precision);
      values.provenance = nparams > 11 ? param[11].data.d_int32 != 0 : TRUE;
      {
        gchar *bad = check_choice ("engine", nparams > 9 && param[9].data.d_string ? param[9].data.d_string : "",
                                   ENGINE_CHOICES, G_N_ELEMENTS (ENGINE_CHOICES));
        if (! bad)
          bad = check_choice ("precision",
                              nparams > 10 && param[10].data.d_string ? param[10].data.d_string : "",
                              PRECISION_CHOICES, G_N_ELEMENTS (PRECISION_CHOICES));
        if (bad)
          {
            fail (vals, nreturn_vals, bad);
            return;
          }
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

  bridge = find_bridge (plug_in_path, &origin);
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

  if (run_mode == GIMP_RUN_INTERACTIVE && ! show_dialog (bridge, drawable, &values))
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

  if (! run_bridge (bridge, &values, plan.raw, plan.bpp, w, h, pixels, (gsize) w * h * plan.bpp,
                    &out, &ow, &oh, &info, &error))
    {
      run_info_clear (&info);
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

  /* The metadata goes in with the pixels: in the same undo step in place; a new image
   * is shown, clean and without undo steps, only once it holds both. */
  if (values.new_image)
    {
      result = put_in_new_image (image, drawable, &plan, out->data, ow, oh, FALSE);
      gimp_image_undo_disable (result);
    }
  else
    {
      result = image;
      gimp_image_undo_group_start (image);
      put_in_place (image, drawable, &plan, out->data, ow, oh);
    }
  if (values.provenance && ! record_provenance (result, image, &info, &error))
    {
      /* The pixels are the result: say what is missing, do not fail. */
      gchar *text = g_strdup_printf ("AI Upscale: the provenance could not be recorded in the "
                                     "metadata (%s)", error);
      gimp_message (text);
      g_free (text);
      g_clear_pointer (&error, g_free);
    }
  if (values.new_image)
    {
      gimp_image_undo_enable (result);
      gimp_image_clean_all (result);
      vals[1].data.d_image = result;
      if (run_mode != GIMP_RUN_NONINTERACTIVE)
        gimp_display_new (result);
    }
  else
    gimp_image_undo_group_end (image);
  run_info_clear (&info);

  g_byte_array_free (out, TRUE);
  gimp_progress_end ();

  if (run_mode != GIMP_RUN_NONINTERACTIVE)
    gimp_displays_flush ();
  if (run_mode == GIMP_RUN_INTERACTIVE)
    gimp_set_data (PLUG_IN_PROC, &values, sizeof values);

  g_free (bridge);
  g_free (origin);
}


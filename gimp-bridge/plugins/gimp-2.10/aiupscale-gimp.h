/* aiupscale-gimp.h: what the parts of the GIMP 2.10 plug-in share.
 *
 *   plugin.c  registration (query) and the procedure (run);
 *   bridge.c  the aiupscale program: finding it, `models list --json` and
 *             `upscale-raw --progress-json` (the contract of docs/BRIDGE.md, read with
 *             json-glib);
 *   dialog.c  the options dialog;
 *   layers.c  pixels out of and back into GIMP.
 */

#ifndef AIUPSCALE_GIMP_H
#define AIUPSCALE_GIMP_H

#include <libgimp/gimp.h>

#define PLUG_IN_PROC   "plug-in-aiupscale"
#define PLUG_IN_BINARY "aiupscale"
#define PLUG_IN_ROLE   "aiupscale"
#define MODEL_LEN      1024

/* The version of docs/BRIDGE.md this plug-in speaks. */
#define BRIDGE_CONTRACT_VERSION 1

typedef struct
{
  gchar    model[MODEL_LEN]; /* "" = auto */
  gdouble  scale;            /* <= 0: the model's native scale */
  gint32   new_image;
  gdouble  denoise;          /* 0 (off) .. 1 */
  /* Added later, at the end so older saved values still load: */
  gchar    content[16];      /* photo, footage, animation, realtime ("" = photo), for auto */
  gdouble  grain;            /* 0 (off) .. 1 */
  gchar    engine[16];       /* auto, ort, openvino ("" = auto) */
  gchar    precision[16];    /* auto, fp32, bf16, int8 ("" = auto) */
  gint32   provenance;       /* record "AI-upscaled by ..." in the result's metadata */
} Values;

/* The choices of `--content`, `--engine` and `--precision`, in the dialog's order. */
extern const gchar *const CONTENT_CHOICES[4];
extern const gchar *const ENGINE_CHOICES[3];
extern const gchar *const PRECISION_CHOICES[4];

/* What the bridge said about a finished run (the `started` and `done` lines). */
typedef struct
{
  gchar *engine;     /* what ran, after auto: ort, openvino */
  gchar *precision;  /* fp32, bf16, int8 */
  gchar *provenance; /* the text to record */
  gchar *xmp;        /* the same as an XMP packet */
} RunInfo;

/* One model of `aiupscale models list --json`. */
typedef struct
{
  gchar    *name;
  gchar    *description;
  gint      scale;
  gchar    *content;
  gdouble   cost;     /* FLOP per input pixel */
  gboolean  fetched;
  gchar    *licence;
} ModelRow;

/* How a layer's pixels travel: upscale-raw --format, babl format, layer type. */
typedef struct
{
  const gchar  *raw;
  const Babl   *babl;
  gint          bpp;
  GimpImageType layer_type;
} Plan;

/* bridge.c */
gchar     *find_bridge (const gchar *plug_in_path,
                        gchar      **origin);
GPtrArray *list_models (const gchar *bridge,
                        gchar      **error);
gboolean   run_bridge  (const gchar   *bridge,
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
                        gchar        **error);
void       run_info_clear (RunInfo *info);

/* dialog.c */
gboolean   show_dialog (const gchar *bridge,
                        gint32       drawable,
                        Values      *values);

/* layers.c */
void       plan_pixels      (gint32        image,
                             gint32        drawable,
                             Plan         *p);
gint32     put_in_new_image (gint32        image,
                             gint32        drawable,
                             const Plan   *p,
                             const guchar *pixels,
                             gint          ow,
                             gint          oh,
                             gboolean      show);
void       put_in_place     (gint32        image,
                             gint32        drawable,
                             const Plan   *p,
                             const guchar *pixels,
                             gint          ow,
                             gint          oh);
gboolean   record_provenance (gint32         image,
                              gint32         source,
                              const RunInfo *info,
                              gchar        **error);

#endif

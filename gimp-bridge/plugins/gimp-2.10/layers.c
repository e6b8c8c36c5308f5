/* layers.c: a layer's pixels out of GIMP, the upscaled ones back in, and the
 * provenance into the result's metadata. */

#include <string.h>

#include "aiupscale-gimp.h"

#define COMMENT_PARASITE "gimp-comment"

void
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

gint32
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

void
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

/* Merges the bridge's XMP packet into `image`'s metadata (a new image starts from the
 * `source` image's, so nothing the input carried is lost) and adds the text to the image
 * comment, which the PNG and JPEG exports write as a comment. */
gboolean
record_provenance (gint32 image, gint32 source, const RunInfo *info, gchar **error)
{
  GimpMetadata *metadata;
  GimpParasite *parasite;
  GError       *xmp_error = NULL;
  gchar        *comment = NULL;

  if (! info->xmp || ! info->provenance)
    {
      *error = g_strdup ("the aiupscale program sent no provenance; is it the same version as this plug-in?");
      return FALSE;
    }

  metadata = gimp_image_get_metadata (image);
  if (! metadata && source != image)
    {
      GimpMetadata *original = gimp_image_get_metadata (source);
      if (original)
        {
          metadata = gimp_metadata_duplicate (original);
          g_object_unref (original);
        }
    }
  if (! metadata)
    metadata = gimp_metadata_new ();
  if (! gimp_metadata_set_from_xmp (metadata, (const guchar *) info->xmp, strlen (info->xmp), &xmp_error))
    {
      *error = g_strdup_printf ("the XMP packet was refused: %s", xmp_error->message);
      g_error_free (xmp_error);
      g_object_unref (metadata);
      return FALSE;
    }
  gimp_image_set_metadata (image, metadata);
  g_object_unref (metadata);

  /* The comment: the image's own, else the source's, then this text (once). */
  parasite = gimp_image_get_parasite (image, COMMENT_PARASITE);
  if (! parasite && source != image)
    parasite = gimp_image_get_parasite (source, COMMENT_PARASITE);
  if (parasite)
    {
      comment = g_strndup (gimp_parasite_data (parasite), gimp_parasite_data_size (parasite));
      gimp_parasite_free (parasite);
    }
  if (! comment || ! strstr (comment, info->provenance))
    {
      gchar *text = comment && *comment ? g_strconcat (comment, "\n", info->provenance, NULL)
                                        : g_strdup (info->provenance);
      /* GIMP stores the comment with its NUL */
      parasite = gimp_parasite_new (COMMENT_PARASITE, GIMP_PARASITE_PERSISTENT, strlen (text) + 1, text);
      gimp_image_attach_parasite (image, parasite);
      gimp_parasite_free (parasite);
      g_free (text);
    }
  g_free (comment);
  return TRUE;
}

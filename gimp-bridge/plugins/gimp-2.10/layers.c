/* layers.c: a layer's pixels out of GIMP, and the upscaled ones back in. */

#include "aiupscale-gimp.h"

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

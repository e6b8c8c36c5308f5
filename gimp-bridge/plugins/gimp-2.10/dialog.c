/* dialog.c: the options dialog of the GIMP 2.10 plug-in. */

#include <libgimp/gimp.h>
#include <libgimp/gimpui.h>

#include "aiupscale-gimp.h"

typedef struct
{
  GPtrArray   *models;        /* never NULL (empty when the list failed) */
  gchar       *models_error;  /* why there is no model list, or NULL */
  GtkWidget   *combo;
  GtkWidget   *info;
  GtkWidget   *native;
  GtkWidget   *scale;
  GtkWidget   *size;
  GtkWidget   *content;
  gint         width;
  gint         height;
} Dialog;

/* FLOP per input pixel, short: "1.2 MFLOP/px". */
static gchar *
cost_text (gdouble flops)
{
  if (flops >= 1e9)
    return g_strdup_printf ("%.1f GFLOP/px", flops / 1e9);
  if (flops >= 1e6)
    return g_strdup_printf ("%.1f MFLOP/px", flops / 1e6);
  if (flops >= 1e3)
    return g_strdup_printf ("%.1f kFLOP/px", flops / 1e3);
  return g_strdup_printf ("%.0f FLOP/px", flops);
}

/* One labelled row of the dialog's table; a mnemonic label points at its widget. */
static void
attach_row (GtkWidget *table, gint row, const gchar *mnemonic, GtkWidget *widget)
{
  GtkWidget *label = gtk_label_new_with_mnemonic (mnemonic);

  gtk_label_set_mnemonic_widget (GTK_LABEL (label), widget);
  gtk_misc_set_alignment (GTK_MISC (label), 0.0, 0.5);
  gtk_table_attach (GTK_TABLE (table), label, 0, 1, row, row + 1, GTK_FILL, GTK_FILL, 0, 0);
  gtk_table_attach (GTK_TABLE (table), widget, 1, 2, row, row + 1, GTK_FILL, GTK_FILL, 0, 0);
}

/* A 0..1 strength in steps of 0.05 (denoise, grain). */
static GtkWidget *
strength_spin (gdouble value, const gchar *help)
{
  GtkWidget *spin = gimp_spin_button_new_with_range (0.0, 1.0, 0.05);

  gtk_spin_button_set_digits (GTK_SPIN_BUTTON (spin), 2);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (spin), CLAMP (value, 0.0, 1.0));
  gimp_help_set_help_data (spin, help, NULL);
  return spin;
}

/* A combo of `choices` (the command line's names), `value` selected ("" = the first). */
static GtkWidget *
choice_combo (const gchar *const *choices, guint n, const gchar *value, const gchar *help)
{
  GtkWidget *combo = gtk_combo_box_text_new ();
  guint      i;

  for (i = 0; i < n; i++)
    {
      gtk_combo_box_text_append_text (GTK_COMBO_BOX_TEXT (combo), choices[i]);
      if (g_strcmp0 (value, choices[i]) == 0)
        gtk_combo_box_set_active (GTK_COMBO_BOX (combo), i);
    }
  if (gtk_combo_box_get_active (GTK_COMBO_BOX (combo)) < 0)
    gtk_combo_box_set_active (GTK_COMBO_BOX (combo), 0);
  gimp_help_set_help_data (combo, help, NULL);
  return combo;
}

/* The selected choice of a choice_combo into `out`. */
static void
choice_get (GtkWidget *combo, const gchar *const *choices, gchar *out, gsize size)
{
  g_strlcpy (out, choices[MAX (gtk_combo_box_get_active (GTK_COMBO_BOX (combo)), 0)], size);
}

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
  gtk_widget_set_sensitive (d->content, is_auto);
  if (m)
    {
      gchar *cost = cost_text (m->cost);
      if (m->fetched)
        info = g_strdup_printf ("x%d \xc2\xb7 %s \xc2\xb7 %s \xc2\xb7 %s \xc2\xb7 fetched",
                                m->scale, m->content, cost, m->licence);
      else
        info = g_strdup_printf ("x%d \xc2\xb7 %s \xc2\xb7 %s \xc2\xb7 %s \xc2\xb7 not fetched yet: "
                                "fetched on first use",
                                m->scale, m->content, cost, m->licence);
      g_free (cost);
    }
  else if (d->models_error)
    info = g_strdup_printf ("the model list is not available: %s", d->models_error);
  else if (is_auto)
    info = g_strdup ("auto: the catalog's model for the content and the scale "
                     "(fetched on first use)");
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

gboolean
show_dialog (const gchar *bridge, gint32 drawable, Values *values)
{
  Dialog     d = { 0 };
  GtkWidget *dialog, *vbox, *table, *label, *new_image, *denoise, *grain;
  GtkWidget *expander, *advanced, *engine, *precision, *provenance;
  guint      i;
  gboolean   ok;
  gint       row = 0;

  gimp_ui_init (PLUG_IN_BINARY, FALSE);

  d.models = list_models (bridge, &d.models_error);
  if (! d.models)
    d.models = g_ptr_array_new ();
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

  table = gtk_table_new (8, 2, FALSE);
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
                      values->model[0] ? values->model : "auto");
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
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (d.native), values->scale <= 0);
  gtk_table_attach (GTK_TABLE (table), d.native, 1, 2, row, row + 1, GTK_FILL, GTK_FILL, 0, 0);
  row++;

  d.scale = gimp_spin_button_new_with_range (0.25, 16.0, 0.25);
  gtk_spin_button_set_digits (GTK_SPIN_BUTTON (d.scale), 2);
  gtk_spin_button_set_value (GTK_SPIN_BUTTON (d.scale), values->scale > 0 ? values->scale : 2.0);
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
  denoise = strength_spin (values->denoise,
                           "Edge-preserving denoise before upscaling, tuned to the noise "
                           "measured in the image: 0 is off, 1 the strongest");
  attach_row (table, row++, "_Denoise:", denoise);

  /* content (for auto) */
  d.content = choice_combo (CONTENT_CHOICES, G_N_ELEMENTS (CONTENT_CHOICES), values->content,
                            "What the picture is, to choose the model when it is auto");
  attach_row (table, row++, "C_ontent:", d.content);

  /* grain */
  grain = strength_spin (values->grain,
                         "Fine film-like grain added after upscaling (luminance only, "
                         "reproducible): 0 is off");
  attach_row (table, row, "_Grain:", grain);

  /* destination */
  new_image = gtk_check_button_new_with_mnemonic ("Put the result in a new _image "
                                                  "(off: resize this image)");
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (new_image), values->new_image);
  gtk_box_pack_start (GTK_BOX (vbox), new_image, FALSE, FALSE, 0);

  /* Advanced: engine, precision, provenance; folded unless one is not the default */
  advanced = gtk_table_new (3, 2, FALSE);
  gtk_table_set_col_spacings (GTK_TABLE (advanced), 6);
  gtk_table_set_row_spacings (GTK_TABLE (advanced), 6);
  gtk_container_set_border_width (GTK_CONTAINER (advanced), 6);
  engine = choice_combo (ENGINE_CHOICES, G_N_ELEMENTS (ENGINE_CHOICES), values->engine,
                         "Inference engine (--engine): auto is OpenVINO on the CPU when it is "
                         "installed, else ONNX Runtime");
  attach_row (advanced, 0, "_Engine:", engine);
  precision = choice_combo (PRECISION_CHOICES, G_N_ELEMENTS (PRECISION_CHOICES), values->precision,
                            "Arithmetic precision (--precision): auto is the fastest that passed "
                            "the model's quality gate; one that cannot run here gives an error "
                            "that says what to choose instead");
  attach_row (advanced, 1, "_Precision:", precision);
  provenance = gtk_check_button_new_with_mnemonic ("_Record that the result is AI-upscaled (model and "
                                                   "version) in the image's metadata");
  gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (provenance), values->provenance);
  gtk_table_attach (GTK_TABLE (advanced), provenance, 0, 2, 2, 3, GTK_FILL, GTK_FILL, 0, 0);
  expander = gtk_expander_new_with_mnemonic ("_Advanced");
  gtk_container_add (GTK_CONTAINER (expander), advanced);
  gtk_expander_set_expanded (GTK_EXPANDER (expander),
                             gtk_combo_box_get_active (GTK_COMBO_BOX (engine)) > 0 ||
                             gtk_combo_box_get_active (GTK_COMBO_BOX (precision)) > 0 ||
                             ! values->provenance);
  gtk_box_pack_start (GTK_BOX (vbox), expander, FALSE, FALSE, 0);

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

      g_strlcpy (values->model, g_strcmp0 (model, "auto") == 0 ? "" : model, sizeof values->model);
      g_free (model);
      values->scale = gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (d.native))
                       ? 0.0 : gtk_spin_button_get_value (GTK_SPIN_BUTTON (d.scale));
      values->new_image = gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (new_image));
      values->denoise = gtk_spin_button_get_value (GTK_SPIN_BUTTON (denoise));
      values->grain = gtk_spin_button_get_value (GTK_SPIN_BUTTON (grain));
      choice_get (d.content, CONTENT_CHOICES, values->content, sizeof values->content);
      choice_get (engine, ENGINE_CHOICES, values->engine, sizeof values->engine);
      choice_get (precision, PRECISION_CHOICES, values->precision, sizeof values->precision);
      values->provenance = gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (provenance));
    }

  gtk_widget_destroy (dialog);
  g_ptr_array_free (d.models, TRUE);
  g_free (d.models_error);
  return ok;
}


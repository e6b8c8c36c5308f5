#!/usr/bin/env python3
# aiupscale.py: the GIMP 3 plug-in of aiupscale (installed by `aiupscale install gimp`).
#
# Registers plug-in-aiupscale, Filters > Enhance > AI Upscale...:
#
#   plug-in-aiupscale (run-mode, image, drawables, model, scale, new-image, denoise,
#                      content, grain, engine, precision, provenance) -> result-image
#
#   model      catalog name (see `aiupscale models list`), a path to an .onnx file, or
#              "" / "auto" for the catalog's model for `content` and the scale (fetched
#              on first use);
#   scale      output / input size; 0 means the model's native scale;
#   new-image  True: the result goes into a new image (returned, and shown when
#              interactive); False: the image is resized and the layer replaced in one
#              undo group (result-image is then None);
#   denoise    edge-preserving denoise before upscaling, 0 (off, the default) to 1
#              (`--denoise`);
#   content    what the picture is, for "auto": photo (default), footage, animation,
#              realtime (`--content`);
#   grain      fine film-like grain after upscaling, 0 (off, the default) to 1 (`--grain`);
#   engine     auto (default), ort, openvino (`--engine`);
#   precision  auto (default), fp32, bf16, int8 (`--precision`); one that cannot run here
#              is an error with the bridge's message;
#   provenance True (default): the result image records that it was AI-upscaled, by
#              which model and which aiupscale: the bridge's XMP packet and Exif
#              ImageDescription/Software in its metadata, its text in the image comment
#              (exports write them where their Exif/XMP/comment options are on); False:
#              not (as `aiupscale upscale --no-provenance`).
#
# The layer's pixels go to `aiupscale upscale-raw --progress-json ... - -` through a
# pipe; its JSON progress lines drive GIMP's progress bar; the upscaled pixels come back
# on stdout. The dialog lists `aiupscale models list --json`. Both go through
# aiupscale_bridge.py (shared with the Krita plug-in; the contract is docs/BRIDGE.md). 8-bit images travel as rgb8/rgba8/gray8/graya8, 16-bit as *16, deeper
# ones as *f32; alpha is kept; indexed images are refused.
#
# The aiupscale program is found, first match wins: $AIUPSCALE_BRIDGE; the file
# `bridge-path` beside this script (written by `aiupscale install gimp`); the same file
# in <gimp-directory>/plug-ins/aiupscale/; `aiupscale` on PATH.
#
# Cancel: GIMP kills the plug-in; the bridge runs with PR_SET_PDEATHSIG = SIGTERM, so
# it stops too, writing nothing. Errors are returned as EXECUTION_ERROR with the text
# (GIMP shows it when the user ran the filter; non-interactive calls also send it to
# Gimp.message); the image is then untouched.

import os
import struct
import sys

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
gi.require_version("Gtk", "3.0")
from gi.repository import Gegl, Gimp, GimpUi, GLib, GObject, Gtk  # noqa: E402

# The talk with the aiupscale program (docs/BRIDGE.md), shared with the Krita plug-in:
# `aiupscale install gimp` puts it beside this file.
# No __pycache__ in the plug-in folder: `aiupscale uninstall gimp` removes what it wrote.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aiupscale_bridge as bridge_io  # noqa: E402

PROC = "plug-in-aiupscale"
COMMENT = "gimp-comment"  # the image comment's parasite
INSTALL = "aiupscale install gimp"


# ------------------------------------------------------------------ the bridge


def find_bridge():
    """The aiupscale program (BridgeError when there is none)."""
    files = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "bridge-path")]
    try:
        files.append(os.path.join(Gimp.directory(), "plug-ins", "aiupscale", "bridge-path"))
    except Exception:  # noqa: BLE001 - outside GIMP
        pass
    return bridge_io.find_bridge(files, INSTALL)


def run_bridge(bridge, raw_format, width, height, pixels, model, scale, denoise=0.0, content=None, grain=0.0,
               engine=None, precision=None):
    """upscale-raw with GIMP's progress bar; returns (bytes, out_width, out_height, the
    bridge's `done` line).
    Cancel is GIMP killing this plug-in: the bridge then gets SIGTERM by itself."""

    def started(event):
        how = ", ".join(event[k] for k in ("device", "engine", "precision") if isinstance(event.get(k), str))
        Gimp.progress_set_text(f"AI Upscale: {event.get('model', '?')} ({how or '?'}) \u2192 "
                               f"{event['width']} \u00d7 {event['height']}")
        Gimp.progress_update(0.0)

    def progress(fraction):
        if fraction is not None:
            Gimp.progress_update(fraction)
        return True

    def fetching(event):
        Gimp.progress_set_text(f"AI Upscale: fetching the model {event.get('fetching', '?')} (first use)\u2026")
        Gimp.progress_pulse()

    finished = {}
    try:
        data, ow, oh = bridge_io.upscale_raw(bridge, pixels, width, height, raw_format, model, scale, denoise,
                                             progress=progress, started=started, content=content, grain=grain,
                                             fetching=fetching, done=finished.update, engine=engine,
                                             precision=precision)
    except bridge_io.Cancelled as e:
        raise bridge_io.BridgeError(f"cancelled ({e}); nothing was changed.") from e
    return data, ow, oh, finished


def _exif(tags):
    """A minimal Exif block (TIFF, little-endian, one IFD) of ASCII `tags` (number, text)."""
    entries, data = [], b""
    start = 8 + 2 + 12 * len(tags) + 4
    for number, text in sorted(tags):
        value = text.encode("ascii", "replace") + b"\0"
        entries.append(struct.pack("<HHII", number, 2, len(value), start + len(data)))
        data += value + b"\0" * (len(value) % 2)
    return b"II*\0" + struct.pack("<IH", 8, len(tags)) + b"".join(entries) + struct.pack("<I", 0) + data


def _comment(image):
    parasite = image.get_parasite(COMMENT)
    return bytes(parasite.get_data()).rstrip(b"\0").decode("utf-8", "replace") if parasite else ""


def record_provenance(image, source, finished):
    """Records the bridge's provenance (`finished`: its `done` line) in `image`: its XMP
    packet and Exif ImageDescription/Software merged into the metadata (a new image starts
    from `source`'s), its text added to the image comment; what was there stays. Exports
    write them where their metadata options are on (GIMP 3's non-interactive defaults are
    off). Never fails the filter: an image without it is still correct."""
    text, xmp = finished.get("provenance"), finished.get("xmp")
    if not text or not xmp:
        return
    try:
        metadata = image.get_metadata()
        if metadata is None and source != image and source.get_metadata() is not None:
            metadata = source.get_metadata().duplicate()
        metadata = metadata or Gimp.Metadata.new()
        software = text.split(" with ", 1)[0].replace("AI-upscaled by ", "")
        metadata.set_from_xmp(xmp.encode("utf-8"))
        metadata.set_from_exif(_exif([(270, text), (305, software)]))
        image.set_metadata(metadata)
        comment = _comment(image) or (_comment(source) if source != image else "")
        if text not in comment:
            comment = (comment + "\n" if comment else "") + text
            image.attach_parasite(Gimp.Parasite.new(COMMENT, Gimp.PARASITE_PERSISTENT,
                                                    list(comment.encode("utf-8") + b"\0")))
    except Exception as e:  # noqa: BLE001 - metadata is a courtesy, the pixels are the result
        Gimp.message(f"AI Upscale: the provenance could not be recorded in the metadata ({e})")


# ------------------------------------------------------------------ pixels


def plan_pixels(image, drawable):
    """(upscale-raw format, babl format, bytes per pixel, layer type)."""
    alpha = drawable.has_alpha()
    gray = drawable.is_gray()
    nick = image.get_precision().value_nick  # e.g. "u8-non-linear", "u16-linear", "float-linear"
    if nick.startswith("u8"):
        depth, raw_depth, size = "u8", "8", 1
    elif nick.startswith("u16"):
        depth, raw_depth, size = "u16", "16", 2
    else:  # 32-bit integer, half, float, double: as float in 0..1
        depth, raw_depth, size = "float", "f32", 4
    channels = (2 if alpha else 1) if gray else (4 if alpha else 3)
    # Perceptual (R'G'B') samples: the models are trained on sRGB-encoded pixels.
    babl = ("Y'A" if alpha else "Y'") if gray else ("R'G'B'A" if alpha else "R'G'B'")
    raw = ("graya" if alpha else "gray") if gray else ("rgba" if alpha else "rgb")
    if gray:
        layer_type = Gimp.ImageType.GRAYA_IMAGE if alpha else Gimp.ImageType.GRAY_IMAGE
    else:
        layer_type = Gimp.ImageType.RGBA_IMAGE if alpha else Gimp.ImageType.RGB_IMAGE
    return raw + raw_depth, f"{babl} {depth}", channels * size, layer_type


def _offsets(drawable):
    result = drawable.get_offsets()
    return (result[-2], result[-1]) if isinstance(result, tuple) else (0, 0)


def put_in_new_image(image, drawable, babl, layer_type, data, ow, oh, show):
    new_image = Gimp.Image.new_with_precision(ow, oh, image.get_base_type(), image.get_precision())
    new_image.undo_disable()
    profile = image.get_color_profile()
    if profile is not None:
        new_image.set_color_profile(profile)
    ok, xres, yres = image.get_resolution()
    if ok:
        new_image.set_resolution(xres * ow / drawable.get_width(), yres * oh / drawable.get_height())
    layer = Gimp.Layer.new(new_image, f"{drawable.get_name()} (AI upscaled)", ow, oh, layer_type, 100.0,
                           new_image.get_default_new_layer_mode())
    new_image.insert_layer(layer, None, 0)
    buffer = layer.get_buffer()
    buffer.set(Gegl.Rectangle.new(0, 0, ow, oh), babl, data)
    buffer.flush()
    layer.update(0, 0, ow, oh)
    new_image.undo_enable()
    new_image.clean_all()
    if show:
        Gimp.Display.new(new_image)
    return new_image


def put_in_place(image, drawable, babl, data, ow, oh):
    sx = ow / drawable.get_width()
    sy = oh / drawable.get_height()
    ox, oy = _offsets(drawable)
    image.undo_group_start()
    try:
        # The other layers, channels and paths follow with GIMP's interpolation.
        image.scale(max(1, round(image.get_width() * sx)), max(1, round(image.get_height() * sy)))
        if drawable.get_width() != ow or drawable.get_height() != oh:
            drawable.scale(ow, oh, False)
        drawable.set_offsets(round(ox * sx), round(oy * sy))
        shadow = drawable.get_shadow_buffer()
        shadow.set(Gegl.Rectangle.new(0, 0, ow, oh), babl, data)
        shadow.flush()
        drawable.merge_shadow(True)
        drawable.update(0, 0, ow, oh)
    finally:
        image.undo_group_end()


# ------------------------------------------------------------------ the dialog


def cost_text(flops):
    """FLOP per input pixel, short: "1.2 MFLOP/px"."""
    for factor, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if flops >= factor:
            return f"{flops / factor:.1f} {unit}FLOP/px"
    return f"{flops:.0f} FLOP/px"


def show_dialog(procedure, config, bridge, drawable):
    GimpUi.init("aiupscale")
    try:
        models, models_error = bridge_io.list_models(bridge), None
    except bridge_io.BridgeError as e:
        models, models_error = [], str(e)
    by_name = {m["name"]: m for m in models}
    width, height = drawable.get_width(), drawable.get_height()

    dialog = GimpUi.Dialog(title="AI Upscale", role="aiupscale")
    dialog.add_button("_Cancel", Gtk.ResponseType.CANCEL)
    dialog.add_button("_OK", Gtk.ResponseType.OK)
    dialog.set_default_response(Gtk.ResponseType.OK)

    grid = Gtk.Grid(column_spacing=6, row_spacing=6, border_width=12)
    dialog.get_content_area().add(grid)

    combo = Gtk.ComboBoxText.new_with_entry()
    combo.append_text("auto")
    for m in models:
        combo.append_text(m["name"])
    combo.get_child().set_text(config.get_property("model") or "auto")
    combo.get_child().set_activates_default(True)
    combo.set_hexpand(True)
    label = Gtk.Label.new_with_mnemonic("_Model:")
    label.set_mnemonic_widget(combo)
    label.set_xalign(0.0)
    grid.attach(label, 0, 0, 1, 1)
    grid.attach(combo, 1, 0, 1, 1)

    info = Gtk.Label(xalign=0.0, wrap=True)
    grid.attach(info, 1, 1, 1, 1)

    saved_scale = config.get_property("scale")
    native = Gtk.CheckButton.new_with_mnemonic("Use the model's _native scale")
    native.set_active(saved_scale <= 0)
    grid.attach(native, 1, 2, 1, 1)

    spin = Gtk.SpinButton.new_with_range(0.25, 16.0, 0.25)
    spin.set_digits(2)
    spin.set_value(saved_scale if saved_scale > 0 else 2.0)
    label = Gtk.Label.new_with_mnemonic("_Scale:")
    label.set_mnemonic_widget(spin)
    label.set_xalign(0.0)
    grid.attach(label, 0, 3, 1, 1)
    grid.attach(spin, 1, 3, 1, 1)

    size = Gtk.Label(xalign=0.0)
    label = Gtk.Label(label="Size:", xalign=0.0)
    grid.attach(label, 0, 4, 1, 1)
    grid.attach(size, 1, 4, 1, 1)

    def attach_row(row, mnemonic, widget):
        label = Gtk.Label.new_with_mnemonic(mnemonic)
        label.set_mnemonic_widget(widget)
        label.set_xalign(0.0)
        grid.attach(label, 0, row, 1, 1)
        grid.attach(widget, 1, row, 1, 1)

    def strength_spin(prop, tooltip):
        spin = Gtk.SpinButton.new_with_range(0.0, 1.0, 0.05)
        spin.set_digits(2)
        spin.set_value(min(max(config.get_property(prop), 0.0), 1.0))
        spin.set_tooltip_text(tooltip)
        return spin

    denoise = strength_spin("denoise", "Edge-preserving denoise before upscaling, tuned to the noise measured "
                            "in the image: 0 is off, 1 the strongest")
    attach_row(5, "_Denoise:", denoise)

    new_image = Gtk.CheckButton.new_with_mnemonic("Put the result in a new _image (off: resize this image)")
    new_image.set_active(config.get_property("new-image"))
    grid.attach(new_image, 0, 8, 2, 1)

    content = Gtk.ComboBoxText()
    for name in bridge_io.CONTENT_CHOICES:
        content.append(name, name)
    saved_content = config.get_property("content")
    content.set_active_id(saved_content if saved_content in bridge_io.CONTENT_CHOICES else "photo")
    content.set_tooltip_text("What the picture is, to choose the model when it is auto")
    attach_row(6, "C_ontent:", content)

    grain = strength_spin("grain", "Fine film-like grain added after upscaling (luminance only, reproducible): "
                          "0 is off, 1 the strongest")
    attach_row(7, "_Grain:", grain)

    # Advanced: engine, precision, provenance; folded unless one is not the default.
    def choice_combo(prop, choices, labels, tooltip):
        combo = Gtk.ComboBoxText()
        for name in choices:
            combo.append(name, labels.get(name, name))
        saved = config.get_property(prop)
        combo.set_active_id(saved if saved in choices else "auto")
        combo.set_tooltip_text(tooltip)
        return combo

    engine = choice_combo("engine", bridge_io.ENGINE_CHOICES, bridge_io.ENGINE_LABELS, "The inference engine (--engine)")
    precision = choice_combo("precision", bridge_io.PRECISION_CHOICES, bridge_io.PRECISION_LABELS,
                             "The arithmetic precision (--precision); one this computer or model cannot run "
                             "gives an error that says what to choose instead")
    provenance = Gtk.CheckButton.new_with_mnemonic("_" + bridge_io.PROVENANCE_LABEL)
    provenance.set_active(config.get_property("provenance"))
    advanced = Gtk.Grid(column_spacing=6, row_spacing=6, border_width=6)
    for row, (mnemonic, widget) in enumerate((("_Engine:", engine), ("_Precision:", precision))):
        label = Gtk.Label.new_with_mnemonic(mnemonic)
        label.set_mnemonic_widget(widget)
        label.set_xalign(0.0)
        advanced.attach(label, 0, row, 1, 1)
        advanced.attach(widget, 1, row, 1, 1)
    advanced.attach(provenance, 0, 2, 2, 1)
    expander = Gtk.Expander.new_with_mnemonic("_Advanced")
    expander.add(advanced)
    expander.set_expanded(engine.get_active_id() != "auto" or precision.get_active_id() != "auto"
                          or not provenance.get_active())
    grid.attach(expander, 0, 9, 2, 1)

    def update(*_):
        text = combo.get_child().get_text().strip()
        is_auto = text in ("", "auto")
        m = by_name.get(text)
        content.set_sensitive(is_auto)
        if m:
            about = f"x{m['scale']} \u00b7 {m['content']} \u00b7 {cost_text(m['cost'])} \u00b7 {m['licence']}"
            if m["fetched"]:
                info.set_markup(f"<i>{GLib.markup_escape_text(about)} \u00b7 fetched</i>")
            else:
                info.set_markup(f"<i>{GLib.markup_escape_text(about)} \u00b7 not fetched yet: it is fetched "
                                "on first use</i>")
        elif models_error:
            info.set_markup(f"<i>the model list is not available: {GLib.markup_escape_text(models_error)}</i>")
        elif is_auto:
            info.set_markup(f"<i>auto: the catalog's {GLib.markup_escape_text(content.get_active_id() or 'photo')} "
                            "model for the scale (fetched on first use)</i>")
        else:
            info.set_markup("<i>a model file (.onnx) or a name not in the catalog</i>")
        spin.set_sensitive(not native.get_active())
        factor = spin.get_value()
        if native.get_active():
            factor = m["scale"] if m else (4.0 if is_auto else 0.0)
        if factor > 0:
            size.set_text(f"{width} \u00d7 {height} px  \u2192  {round(width * factor)} \u00d7 "
                          f"{round(height * factor)} px")
        else:
            size.set_text(f"{width} \u00d7 {height} px  \u2192  the model's native scale")

    combo.connect("changed", update)
    content.connect("changed", update)
    native.connect("toggled", update)
    spin.connect("value-changed", update)
    update()

    dialog.show_all()
    ok = dialog.run() == Gtk.ResponseType.OK
    if ok:
        model = combo.get_child().get_text().strip()
        config.set_property("model", "" if model == "auto" else model)
        config.set_property("scale", 0.0 if native.get_active() else spin.get_value())
        config.set_property("new-image", new_image.get_active())
        config.set_property("denoise", denoise.get_value())
        config.set_property("content", content.get_active_id() or "photo")
        config.set_property("grain", grain.get_value())
        config.set_property("engine", engine.get_active_id() or "auto")
        config.set_property("precision", precision.get_active_id() or "auto")
        config.set_property("provenance", provenance.get_active())
    dialog.destroy()
    return ok


# ------------------------------------------------------------------ the plug-in


class AIUpscale(Gimp.PlugIn):
    def do_query_procedures(self):
        return [PROC]

    def do_set_i18n(self, name):
        return False

    def do_create_procedure(self, name):
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, self.run, None)
        procedure.set_image_types("RGB*, GRAY*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label("AI _Upscale\u2026")
        procedure.add_menu_path("<Image>/Filters/Enhance")
        procedure.set_documentation(
            "Upscale a layer with an AI super-resolution model",
            "Runs the aiupscale program (ONNX models such as Real-ESRGAN, waifu2x or Anime4K) on the layer "
            "and puts the result into a new image, or resizes the image and replaces the layer. Alpha is "
            "kept; 8/16-bit and float RGB and grayscale images are supported, indexed ones are not. A model "
            "not in the cache is fetched on first use. The result's metadata records that it was AI-upscaled.",
            name)
        procedure.set_attribution("aiupscale authors", "MIT OR Apache-2.0", "2026")
        procedure.add_string_argument(
            "model", "_Model",
            "A name from `aiupscale models list`, a path to an .onnx file, or \"\" for the catalog's model for "
            "content and scale",
            "", GObject.ParamFlags.READWRITE)
        procedure.add_double_argument(
            "scale", "_Scale", "Scale factor (e.g. 2, 3.5); 0 for the model's native scale",
            0.0, 16.0, 2.0, GObject.ParamFlags.READWRITE)
        procedure.add_boolean_argument(
            "new-image", "New _image",
            "Put the result in a new image; off: resize this image and replace the layer (one undo step)",
            True, GObject.ParamFlags.READWRITE)
        procedure.add_double_argument(
            "denoise", "_Denoise", "Edge-preserving denoise before upscaling, 0 (off) to 1",
            0.0, 1.0, 0.0, GObject.ParamFlags.READWRITE)
        procedure.add_string_argument(
            "content", "C_ontent",
            "What the picture is, for the model \"\": photo, footage, animation or realtime",
            "photo", GObject.ParamFlags.READWRITE)
        procedure.add_double_argument(
            "grain", "_Grain", "Fine film-like grain after upscaling, 0 (off) to 1",
            0.0, 1.0, 0.0, GObject.ParamFlags.READWRITE)
        procedure.add_string_argument(
            "engine", "_Engine", "Inference engine: auto, ort or openvino",
            "auto", GObject.ParamFlags.READWRITE)
        procedure.add_string_argument(
            "precision", "_Precision", "Arithmetic precision: auto, fp32, bf16 or int8",
            "auto", GObject.ParamFlags.READWRITE)
        procedure.add_boolean_argument(
            "provenance", "_Record provenance",
            "Record in the result's metadata that it was AI-upscaled, by which model",
            True, GObject.ParamFlags.READWRITE)
        procedure.add_image_return_value(
            "result-image", "Result image", "The new image, or none when the image was resized in place",
            True, GObject.ParamFlags.READWRITE)
        return procedure

    def run(self, procedure, run_mode, image, drawables, config, run_data):
        def fail(message):
            # GIMP shows the returned error when the user ran the filter; scripts also
            # get it through Gimp.message (the error console, stderr in batch mode).
            text = f"AI Upscale: {message}"
            if run_mode == Gimp.RunMode.NONINTERACTIVE:
                Gimp.message(text)
            return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, GLib.Error(text))

        if image.get_base_type() == Gimp.ImageBaseType.INDEXED:
            return fail("indexed images are not supported: convert the image to RGB first (Image \u25b8 Mode \u25b8 RGB).")
        if len(drawables) != 1 or not isinstance(drawables[0], Gimp.Layer):
            return fail("select exactly one layer: masks, channels and several layers at once cannot be upscaled.")
        drawable = drawables[0]

        try:
            bridge = find_bridge()
        except bridge_io.BridgeError as e:
            return fail(str(e))

        if run_mode == Gimp.RunMode.INTERACTIVE and not show_dialog(procedure, config, bridge, drawable):
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())

        model = config.get_property("model") or ""
        scale = config.get_property("scale")
        as_new = config.get_property("new-image")
        denoise = config.get_property("denoise")
        content = config.get_property("content") or "photo"
        grain = config.get_property("grain")
        engine = config.get_property("engine") or "auto"
        precision = config.get_property("precision") or "auto"
        provenance = config.get_property("provenance")

        Gegl.init(None)
        raw, babl, _bpp, layer_type = plan_pixels(image, drawable)
        w, h = drawable.get_width(), drawable.get_height()
        pixels = drawable.get_buffer().get(Gegl.Rectangle.new(0, 0, w, h), 1.0, babl, Gegl.AbyssPolicy.NONE)

        Gimp.progress_init("AI upscaling: loading the model\u2026")
        Gimp.progress_pulse()
        try:
            data, ow, oh, finished = run_bridge(bridge, raw, w, h, pixels, model, scale, denoise, content, grain,
                                                engine, precision)
        except bridge_io.BridgeError as e:
            Gimp.progress_end()
            return fail(str(e))
        del pixels

        Gimp.progress_set_text("AI upscaling: placing the result")
        Gimp.progress_update(1.0)
        result = None
        if as_new:
            result = put_in_new_image(image, drawable, babl, layer_type, data, ow, oh,
                                      run_mode != Gimp.RunMode.NONINTERACTIVE)
        else:
            put_in_place(image, drawable, babl, data, ow, oh)
        if provenance:
            record_provenance(result if result is not None else image, image, finished)
        Gimp.progress_end()
        if run_mode != Gimp.RunMode.NONINTERACTIVE:
            Gimp.displays_flush()

        values = procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, None)
        if result is not None:
            values.remove(1)
            values.insert(1, GObject.Value(Gimp.Image, result))
        return values


if __name__ == "__main__":
    Gimp.main(AIUpscale.__gtype__, sys.argv)

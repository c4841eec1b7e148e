//! Drag-to-reorder for lists (egui's drag and drop): a grip handle on each row, a line where the
//! row would land, and the move on release. The ↑/↓ buttons stay for keyboard users.

use eframe::egui;

/// What is being dragged: row `index` of list `list` (so one list's rows never land in another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DragRow {
    list: &'static str,
    index: usize,
}

/// The grip that starts a drag of row `index`.
pub fn handle(ui: &mut egui::Ui, list: &'static str, index: usize) -> egui::Response {
    let id = egui::Id::unique(("reorder", list, index));
    ui.dnd_drag_source(id, DragRow { list, index }, |ui| {
        ui.label(egui::RichText::new("⠿").weak())
    })
    .response
    .on_hover_text("Drag to reorder")
}

/// Call with each row's response after drawing it: marks where a dragged row would land and,
/// when one is dropped here, returns (from, insertion index) for [`move_item`].
pub fn drop_target(
    ui: &egui::Ui,
    row: &egui::Response,
    list: &'static str,
    index: usize,
) -> Option<(usize, usize)> {
    let hovering = row.dnd_hover_payload::<DragRow>()?;
    if hovering.list != list {
        return None;
    }
    let pointer = ui.input(|i| i.pointer.interact_pos())?;
    let above = pointer.y < row.rect.center().y;
    let y = if above {
        row.rect.top()
    } else {
        row.rect.bottom()
    };
    ui.painter()
        .hline(row.rect.x_range(), y, ui.visuals().selection.stroke);
    let dropped = row.dnd_release_payload::<DragRow>()?;
    Some((dropped.index, if above { index } else { index + 1 }))
}

/// Moves `items[from]` so that it lands before what was at `to` (`to == len`: to the end).
pub fn move_item<T>(items: &mut Vec<T>, from: usize, to: usize) {
    if from >= items.len() || to > items.len() {
        return;
    }
    let item = items.remove(from);
    let to = if to > from { to - 1 } else { to };
    items.insert(to, item);
}

#[cfg(test)]
mod tests {
    use super::move_item;

    #[test]
    fn moving_down_up_and_onto_itself() {
        let mut items = vec!['a', 'b', 'c', 'd'];
        move_item(&mut items, 0, 3);
        assert_eq!(items, ['b', 'c', 'a', 'd']);
        move_item(&mut items, 3, 0);
        assert_eq!(items, ['d', 'b', 'c', 'a']);
        move_item(&mut items, 1, 4);
        assert_eq!(items, ['d', 'c', 'a', 'b']);
        move_item(&mut items, 2, 2);
        move_item(&mut items, 2, 3);
        assert_eq!(items, ['d', 'c', 'a', 'b']);
        move_item(&mut items, 9, 0);
        assert_eq!(items, ['d', 'c', 'a', 'b']);
    }
}

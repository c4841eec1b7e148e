use super::*;

#[test]
fn explore() {
    let t2i = SketchTextToImage::new(SKETCH_T2I);
    let i2t = SketchImageToText::new(SKETCH_I2T);
    let mut text = "a red apple on a wooden table".to_owned();
    for step in 0..10 {
        let image = t2i.draw(&text, Some(1), 256);
        text = i2t.describe(&image, Some(1));
        println!("{step}: {text}");
    }
}

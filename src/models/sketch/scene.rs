//! The Sketch world's vocabulary and the caption → scene parser.
//!
//! A scene is a handful of objects (a noun from one of seven shape families, colour, count,
//! size, position), a background and a drawing style. Parsing is forgiving: unknown words are
//! skipped and a caption that names no object still yields one, picked by hashing the text.

/// The shape a noun is drawn with; the captioner can only recover the family from pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Round,
    Tall,
    Block,
    Wide,
    Peak,
    Star,
    Diamond,
}

pub const FAMILIES: [Family; 7] = [
    Family::Round,
    Family::Tall,
    Family::Block,
    Family::Wide,
    Family::Peak,
    Family::Star,
    Family::Diamond,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Colour {
    Red,
    Orange,
    Yellow,
    Gold,
    Green,
    Teal,
    Cyan,
    Blue,
    Purple,
    Violet,
    Pink,
    Brown,
    Beige,
    Black,
    Grey,
    Silver,
    White,
}

pub const COLOURS: [Colour; 17] = [
    Colour::Red,
    Colour::Orange,
    Colour::Yellow,
    Colour::Gold,
    Colour::Green,
    Colour::Teal,
    Colour::Cyan,
    Colour::Blue,
    Colour::Purple,
    Colour::Violet,
    Colour::Pink,
    Colour::Brown,
    Colour::Beige,
    Colour::Black,
    Colour::Grey,
    Colour::Silver,
    Colour::White,
];

impl Colour {
    pub fn rgb(self) -> [u8; 3] {
        match self {
            Colour::Red => [206, 38, 38],
            Colour::Orange => [240, 132, 28],
            Colour::Yellow => [246, 216, 48],
            Colour::Gold => [204, 160, 36],
            Colour::Green => [56, 156, 64],
            Colour::Teal => [24, 140, 140],
            Colour::Cyan => [64, 204, 232],
            Colour::Blue => [40, 76, 204],
            Colour::Purple => [118, 52, 164],
            Colour::Violet => [176, 108, 226],
            Colour::Pink => [240, 138, 182],
            Colour::Brown => [124, 76, 36],
            Colour::Beige => [222, 202, 160],
            Colour::Black => [24, 24, 24],
            Colour::Grey => [124, 124, 128],
            Colour::Silver => [188, 190, 200],
            Colour::White => [246, 246, 246],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Orange => "orange",
            Colour::Yellow => "yellow",
            Colour::Gold => "golden",
            Colour::Green => "green",
            Colour::Teal => "teal",
            Colour::Cyan => "cyan",
            Colour::Blue => "blue",
            Colour::Purple => "purple",
            Colour::Violet => "violet",
            Colour::Pink => "pink",
            Colour::Brown => "brown",
            Colour::Beige => "beige",
            Colour::Black => "black",
            Colour::Grey => "grey",
            Colour::Silver => "silver",
            Colour::White => "white",
        }
    }

    fn from_word(word: &str) -> Option<Colour> {
        Some(match word {
            "red" | "scarlet" | "crimson" | "ruby-red" => Colour::Red,
            "orange" | "amber" | "tangerine" => Colour::Orange,
            "yellow" | "lemony" => Colour::Yellow,
            "gold" | "golden" | "brass" => Colour::Gold,
            "green" | "emerald-green" | "leafy" => Colour::Green,
            "teal" | "turquoise" => Colour::Teal,
            "cyan" | "aqua" => Colour::Cyan,
            "blue" | "azure" | "navy" | "cobalt" => Colour::Blue,
            "purple" | "plum-coloured" => Colour::Purple,
            "violet" | "lilac" | "lavender" => Colour::Violet,
            "pink" | "rosy" | "magenta" => Colour::Pink,
            "brown" | "wooden" | "chocolate" => Colour::Brown,
            "beige" | "tan" | "cream" => Colour::Beige,
            "black" | "dark" => Colour::Black,
            "grey" | "gray" | "stone" => Colour::Grey,
            "silver" | "metal" | "metallic" | "steel" => Colour::Silver,
            "white" | "snowy" | "pale" => Colour::White,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Background {
    Plain,
    Meadow,
    Beach,
    Sea,
    Night,
    Storm,
    Snow,
    Desert,
    Room,
    Sunset,
    Forest,
}

pub const BACKGROUNDS: [Background; 11] = [
    Background::Plain,
    Background::Meadow,
    Background::Beach,
    Background::Sea,
    Background::Night,
    Background::Storm,
    Background::Snow,
    Background::Desert,
    Background::Room,
    Background::Sunset,
    Background::Forest,
];

/// Where the ground band starts, as a fraction of the height.
pub const HORIZON: f32 = 0.64;

impl Background {
    /// Sky colour (upper part) and ground colour (below [`HORIZON`]).
    pub fn colours(self) -> ([u8; 3], [u8; 3]) {
        match self {
            Background::Plain => ([250, 250, 250], [250, 250, 250]),
            Background::Meadow => ([150, 200, 240], [96, 176, 84]),
            Background::Beach => ([150, 200, 240], [232, 212, 156]),
            Background::Sea => ([150, 200, 240], [32, 92, 164]),
            Background::Night => ([20, 26, 62], [14, 18, 40]),
            Background::Storm => ([74, 78, 88], [52, 56, 62]),
            Background::Snow => ([204, 218, 236], [244, 246, 250]),
            Background::Desert => ([244, 204, 150], [220, 172, 100]),
            Background::Room => ([226, 212, 186], [150, 110, 72]),
            Background::Sunset => ([246, 152, 84], [108, 60, 118]),
            Background::Forest => ([52, 110, 62], [34, 78, 40]),
        }
    }

    /// The phrase a caption ends with.
    pub fn phrase(self) -> &'static str {
        match self {
            Background::Plain => "on a blank background",
            Background::Meadow => "in a meadow",
            Background::Beach => "on a beach",
            Background::Sea => "by the sea",
            Background::Night => "at night",
            Background::Storm => "in a storm",
            Background::Snow => "in the snow",
            Background::Desert => "in the desert",
            Background::Room => "in a room",
            Background::Sunset => "at sunset",
            Background::Forest => "in a forest",
        }
    }

    fn from_word(word: &str) -> Option<Background> {
        Some(match word {
            "blank" | "plain" => Background::Plain,
            "meadow" | "field" | "grass" | "park" | "garden" | "countryside" | "hill" | "hills" => {
                Background::Meadow
            }
            "beach" | "sand" | "shore" | "coast" => Background::Beach,
            "sea" | "ocean" | "lake" | "water" | "river" | "harbor" | "harbour" | "waves" => {
                Background::Sea
            }
            "night" | "midnight" | "space" | "darkness" => Background::Night,
            "storm" | "rain" | "thunder" | "stormy" | "fog" | "cloudy" => Background::Storm,
            "snow" | "winter" | "ice" | "arctic" => Background::Snow,
            "desert" | "dunes" | "dune" => Background::Desert,
            "room" | "kitchen" | "indoors" | "office" | "interior" | "studio" | "bedroom" => {
                Background::Room
            }
            "sunset" | "dusk" | "evening" | "dawn" | "sunrise" => Background::Sunset,
            "forest" | "woods" | "jungle" => Background::Forest,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Style {
    Plain,
    Pastel,
    Neon,
    Pixel,
}

impl Style {
    fn from_word(word: &str) -> Option<Style> {
        Some(match word {
            "pastel" | "soft" | "watercolor" | "watercolour" | "dreamy" => Style::Pastel,
            "neon" | "glowing" | "cyberpunk" | "synthwave" => Style::Neon,
            "pixel" | "pixelated" | "8-bit" | "retro" | "mosaic" => Style::Pixel,
            "photo" | "photograph" | "realistic" => Style::Plain,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Size {
    Tiny,
    Small,
    Medium,
    Large,
    Huge,
}

pub const SIZES: [Size; 5] = [
    Size::Tiny,
    Size::Small,
    Size::Medium,
    Size::Large,
    Size::Huge,
];

impl Size {
    /// The object's characteristic extent as a fraction of the image side.
    pub fn extent(self) -> f32 {
        match self {
            Size::Tiny => 0.08,
            Size::Small => 0.14,
            Size::Medium => 0.21,
            Size::Large => 0.30,
            Size::Huge => 0.42,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Size::Tiny => "tiny",
            Size::Small => "small",
            Size::Medium => "",
            Size::Large => "large",
            Size::Huge => "huge",
        }
    }

    fn from_word(word: &str) -> Option<Size> {
        Some(match word {
            "tiny" | "minuscule" => Size::Tiny,
            "small" | "little" => Size::Small,
            "medium" => Size::Medium,
            "large" | "big" => Size::Large,
            "huge" | "giant" | "enormous" | "gigantic" => Size::Huge,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Horizontal {
    Left,
    Centre,
    Right,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vertical {
    Top,
    Middle,
    Bottom,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SceneObject {
    pub noun: &'static str,
    pub family: Family,
    pub colour: Colour,
    pub count: u32,
    /// `None`: the renderer picks (seeded).
    pub size: Option<Size>,
    pub horizontal: Option<Horizontal>,
    pub vertical: Option<Vertical>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    pub objects: Vec<SceneObject>,
    /// `None`: the renderer's default.
    pub background: Option<Background>,
    pub style: Option<Style>,
}

/// At most this many distinct objects are drawn.
pub const MAX_OBJECTS: usize = 4;
/// At most this many copies of one object.
pub const MAX_COUNT: u32 = 6;

/// Nouns per family with their typical colour (used when a caption gives none).
const NOUNS: &[(Family, &[(&str, Colour)])] = &[
    (
        Family::Round,
        &[
            ("basketball", Colour::Orange),
            ("football", Colour::White),
            ("orb", Colour::Violet),
            ("bagel", Colour::Beige),
            ("meatball", Colour::Brown),
            ("olive", Colour::Green),
            ("pea", Colour::Green),
            ("blueberry", Colour::Blue),
            ("coconut", Colour::Brown),
            ("avocado", Colour::Green),
            ("hedgehog", Colour::Brown),
            ("nest", Colour::Brown),
            ("lollipop", Colour::Pink),
            ("porthole", Colour::Silver),
            ("acorn", Colour::Brown),
            ("ball", Colour::Red),
            ("apple", Colour::Red),
            ("orange", Colour::Orange),
            ("sun", Colour::Yellow),
            ("moon", Colour::White),
            ("planet", Colour::Blue),
            ("coin", Colour::Gold),
            ("wheel", Colour::Black),
            ("clock", Colour::White),
            ("cookie", Colour::Brown),
            ("plate", Colour::White),
            ("bubble", Colour::Cyan),
            ("balloon", Colour::Red),
            ("pearl", Colour::White),
            ("cherry", Colour::Red),
            ("tomato", Colour::Red),
            ("lemon", Colour::Yellow),
            ("peach", Colour::Orange),
            ("plum", Colour::Purple),
            ("melon", Colour::Green),
            ("grape", Colour::Violet),
            ("donut", Colour::Pink),
            ("pizza", Colour::Orange),
            ("pie", Colour::Brown),
            ("button", Colour::Blue),
            ("globe", Colour::Blue),
            ("drum", Colour::Red),
            ("bowl", Colour::Beige),
            ("face", Colour::Beige),
            ("eye", Colour::Blue),
            ("berry", Colour::Purple),
            ("marble", Colour::Teal),
            ("lime", Colour::Green),
            ("onion", Colour::Purple),
            ("cabbage", Colour::Green),
            ("snowball", Colour::White),
            ("pumpkin", Colour::Orange),
            ("cake", Colour::Pink),
            ("wreath", Colour::Green),
            ("shield", Colour::Silver),
        ],
    ),
    (
        Family::Tall,
        &[
            ("astronaut", Colour::White),
            ("pirate", Colour::Black),
            ("monk", Colour::Brown),
            ("nurse", Colour::White),
            ("chef", Colour::White),
            ("farmer", Colour::Blue),
            ("teacher", Colour::Purple),
            ("scientist", Colour::White),
            ("guitar", Colour::Brown),
            ("microphone", Colour::Black),
            ("thermos", Colour::Silver),
            ("pencil", Colour::Yellow),
            ("crayon", Colour::Red),
            ("torch", Colour::Orange),
            ("fountain", Colour::Blue),
            ("tower", Colour::Grey),
            ("lighthouse", Colour::White),
            ("bottle", Colour::Green),
            ("person", Colour::Blue),
            ("woman", Colour::Red),
            ("man", Colour::Blue),
            ("child", Colour::Yellow),
            ("girl", Colour::Pink),
            ("boy", Colour::Blue),
            ("king", Colour::Gold),
            ("queen", Colour::Purple),
            ("soldier", Colour::Green),
            ("robot", Colour::Silver),
            ("candle", Colour::White),
            ("vase", Colour::Teal),
            ("lamp", Colour::Yellow),
            ("door", Colour::Brown),
            ("pillar", Colour::Beige),
            ("column", Colour::White),
            ("skyscraper", Colour::Silver),
            ("rocket", Colour::White),
            ("giraffe", Colour::Gold),
            ("penguin", Colour::Black),
            ("owl", Colour::Brown),
            ("statue", Colour::Grey),
            ("chimney", Colour::Red),
            ("glass", Colour::Cyan),
            ("jar", Colour::Beige),
            ("phone", Colour::Black),
            ("ladder", Colour::Brown),
            ("totem", Colour::Brown),
            ("knight", Colour::Silver),
            ("wizard", Colour::Violet),
            ("ghost", Colour::White),
            ("cactus", Colour::Green),
            ("portrait", Colour::Beige),
            ("dancer", Colour::Pink),
            ("clown", Colour::Orange),
            ("sailor", Colour::White),
            ("doctor", Colour::White),
        ],
    ),
    (
        Family::Block,
        &[
            ("bookshelf", Colour::Brown),
            ("drawer", Colour::Brown),
            ("cupboard", Colour::Brown),
            ("container", Colour::Blue),
            ("billboard", Colour::White),
            ("calendar", Colour::White),
            ("keyboard", Colour::Black),
            ("notebook", Colour::Blue),
            ("parcel", Colour::Brown),
            ("battery", Colour::Black),
            ("toaster", Colour::Silver),
            ("microwave", Colour::Grey),
            ("aquarium", Colour::Cyan),
            ("garage", Colour::Grey),
            ("hut", Colour::Brown),
            ("house", Colour::Red),
            ("box", Colour::Brown),
            ("book", Colour::Blue),
            ("window", Colour::Cyan),
            ("cube", Colour::Orange),
            ("crate", Colour::Brown),
            ("chest", Colour::Brown),
            ("gift", Colour::Red),
            ("cabin", Colour::Brown),
            ("barn", Colour::Red),
            ("shop", Colour::Yellow),
            ("television", Colour::Black),
            ("computer", Colour::Grey),
            ("screen", Colour::Black),
            ("painting", Colour::Gold),
            ("frame", Colour::Gold),
            ("safe", Colour::Grey),
            ("dice", Colour::White),
            ("brick", Colour::Red),
            ("block", Colour::Yellow),
            ("bag", Colour::Brown),
            ("suitcase", Colour::Black),
            ("radio", Colour::Silver),
            ("oven", Colour::Silver),
            ("fridge", Colour::White),
            ("cage", Colour::Silver),
            ("tile", Colour::Teal),
            ("letter", Colour::White),
            ("envelope", Colour::Beige),
            ("map", Colour::Beige),
            ("castle", Colour::Grey),
            ("church", Colour::White),
            ("school", Colour::Red),
            ("bread", Colour::Beige),
            ("cheese", Colour::Yellow),
            ("sponge", Colour::Yellow),
            ("cushion", Colour::Violet),
            ("wardrobe", Colour::Brown),
        ],
    ),
    (
        Family::Wide,
        &[
            ("sled", Colour::Red),
            ("skateboard", Colour::Black),
            ("surfboard", Colour::Yellow),
            ("hammock", Colour::Beige),
            ("caterpillar", Colour::Green),
            ("crocodile", Colour::Green),
            ("seal", Colour::Grey),
            ("dolphin", Colour::Blue),
            ("otter", Colour::Brown),
            ("lizard", Colour::Green),
            ("raft", Colour::Brown),
            ("zeppelin", Colour::Silver),
            ("helicopter", Colour::Yellow),
            ("limousine", Colour::Black),
            ("wagon", Colour::Brown),
            ("car", Colour::Red),
            ("boat", Colour::White),
            ("ship", Colour::Grey),
            ("bus", Colour::Yellow),
            ("train", Colour::Green),
            ("table", Colour::Brown),
            ("bed", Colour::White),
            ("sofa", Colour::Teal),
            ("couch", Colour::Grey),
            ("bench", Colour::Brown),
            ("cloud", Colour::White),
            ("fish", Colour::Orange),
            ("whale", Colour::Blue),
            ("shark", Colour::Grey),
            ("submarine", Colour::Yellow),
            ("airplane", Colour::Silver),
            ("cat", Colour::Orange),
            ("dog", Colour::Brown),
            ("horse", Colour::Brown),
            ("cow", Colour::White),
            ("pig", Colour::Pink),
            ("sheep", Colour::White),
            ("bear", Colour::Brown),
            ("lion", Colour::Gold),
            ("tiger", Colour::Orange),
            ("elephant", Colour::Grey),
            ("fox", Colour::Orange),
            ("wolf", Colour::Grey),
            ("rabbit", Colour::White),
            ("mouse", Colour::Grey),
            ("bird", Colour::Blue),
            ("duck", Colour::Yellow),
            ("swan", Colour::White),
            ("log", Colour::Brown),
            ("bridge", Colour::Grey),
            ("canoe", Colour::Red),
            ("truck", Colour::Blue),
            ("tractor", Colour::Green),
            ("sausage", Colour::Brown),
            ("banana", Colour::Yellow),
            ("cucumber", Colour::Green),
            ("leaf", Colour::Green),
            ("island", Colour::Green),
            ("rug", Colour::Red),
            ("pillow", Colour::White),
            ("dragon", Colour::Green),
            ("snake", Colour::Green),
            ("turtle", Colour::Green),
        ],
    ),
    (
        Family::Peak,
        &[
            ("mountain", Colour::Grey),
            ("volcano", Colour::Brown),
            ("pyramid", Colour::Gold),
            ("tent", Colour::Orange),
            ("tree", Colour::Green),
            ("pine", Colour::Green),
            ("fir", Colour::Green),
            ("sail", Colour::White),
            ("roof", Colour::Red),
            ("cone", Colour::Orange),
            ("hat", Colour::Black),
            ("witch", Colour::Purple),
            ("arrow", Colour::Red),
            ("iceberg", Colour::White),
            ("rock", Colour::Grey),
            ("spire", Colour::Grey),
            ("crystal", Colour::Cyan),
            ("wedge", Colour::Yellow),
            ("sandwich", Colour::Beige),
            ("umbrella", Colour::Red),
            ("fin", Colour::Grey),
            ("tooth", Colour::White),
            ("horn", Colour::Beige),
            ("carrot", Colour::Orange),
            ("flame", Colour::Orange),
            ("fire", Colour::Red),
            ("bell", Colour::Gold),
            ("dress", Colour::Violet),
        ],
    ),
    (
        Family::Star,
        &[
            ("star", Colour::Yellow),
            ("flower", Colour::Pink),
            ("starfish", Colour::Orange),
            ("sparkle", Colour::White),
            ("snowflake", Colour::White),
            ("firework", Colour::Red),
            ("daisy", Colour::White),
            ("sunflower", Colour::Yellow),
            ("rose", Colour::Red),
            ("tulip", Colour::Pink),
            ("lily", Colour::White),
            ("badge", Colour::Gold),
            ("medal", Colour::Gold),
            ("explosion", Colour::Orange),
            ("spark", Colour::Yellow),
            ("compass", Colour::Silver),
            ("blossom", Colour::Pink),
            ("orchid", Colour::Violet),
            ("poppy", Colour::Red),
            ("lotus", Colour::Pink),
            ("clover", Colour::Green),
            ("shell", Colour::Beige),
            ("comet", Colour::White),
            ("jellyfish", Colour::Violet),
        ],
    ),
    (
        Family::Diamond,
        &[
            ("diamond", Colour::Cyan),
            ("gem", Colour::Teal),
            ("jewel", Colour::Violet),
            ("kite", Colour::Red),
            ("ruby", Colour::Red),
            ("emerald", Colour::Green),
            ("sapphire", Colour::Blue),
            ("sign", Colour::Yellow),
            ("crown", Colour::Gold),
            ("lantern", Colour::Orange),
            ("mirror", Colour::Silver),
            ("card", Colour::White),
            ("prism", Colour::Cyan),
            ("amulet", Colour::Gold),
            ("candy", Colour::Pink),
            ("ticket", Colour::Yellow),
            ("butterfly", Colour::Blue),
            ("moth", Colour::Beige),
            ("chocolate", Colour::Brown),
            ("cracker", Colour::Beige),
        ],
    ),
];

/// Every noun with its family and typical colour.
pub fn nouns() -> impl Iterator<Item = (&'static str, Family, Colour)> {
    NOUNS.iter().flat_map(|(family, entries)| {
        entries
            .iter()
            .map(move |&(noun, colour)| (noun, *family, colour))
    })
}

/// The nouns of one family with their typical colour.
pub fn family_nouns(family: Family) -> &'static [(&'static str, Colour)] {
    NOUNS
        .iter()
        .find(|(f, _)| *f == family)
        .map_or(&[], |(_, entries)| entries)
}

fn lookup_noun(word: &str) -> Option<(&'static str, Family, Colour)> {
    nouns().find(|(noun, _, _)| *noun == word)
}

const IRREGULAR_PLURALS: &[(&str, &str)] = &[
    ("people", "person"),
    ("men", "man"),
    ("women", "woman"),
    ("children", "child"),
    ("mice", "mouse"),
    ("teeth", "tooth"),
    ("leaves", "leaf"),
    ("wolves", "wolf"),
    ("knives", "knife"),
    ("dice", "dice"),
    ("sheep", "sheep"),
    ("fish", "fish"),
];

/// The plural a caption uses.
pub fn plural(noun: &str) -> String {
    if let Some((plural, _)) = IRREGULAR_PLURALS.iter().find(|(_, single)| *single == noun) {
        return (*plural).to_owned();
    }
    let consonant_y = noun.ends_with('y')
        && !matches!(
            noun.as_bytes().get(noun.len().wrapping_sub(2)),
            Some(b'a' | b'e' | b'o' | b'u')
        );
    if consonant_y {
        format!("{}ies", &noun[..noun.len() - 1])
    } else if ["s", "x", "ch", "sh"].iter().any(|end| noun.ends_with(end))
        || matches!(noun, "tomato" | "volcano" | "potato")
    {
        format!("{noun}es")
    } else {
        format!("{noun}s")
    }
}

/// The noun a word names, and whether the word was plural.
fn noun_of(word: &str) -> Option<((&'static str, Family, Colour), bool)> {
    if let Some(found) = lookup_noun(word) {
        return Some((found, false));
    }
    if let Some((_, single)) = IRREGULAR_PLURALS.iter().find(|(plural, _)| *plural == word) {
        return lookup_noun(single).map(|found| (found, true));
    }
    let candidates = [
        word.strip_suffix("ies").map(|stem| format!("{stem}y")),
        word.strip_suffix("es").map(str::to_owned),
        word.strip_suffix('s').map(str::to_owned),
    ];
    candidates
        .into_iter()
        .flatten()
        .find_map(|stem| lookup_noun(&stem))
        .map(|found| (found, true))
}

fn count_of(word: &str) -> Option<u32> {
    Some(match word {
        "a" | "an" | "one" | "single" | "lone" => 1,
        "two" | "pair" | "couple" | "twin" => 2,
        "three" | "few" | "several" => 3,
        "four" => 4,
        "five" | "many" | "lots" | "numerous" | "crowd" => 5,
        "six" => 6,
        _ => return None,
    })
}

#[derive(Default)]
struct Pending {
    colour: Option<Colour>,
    count: Option<u32>,
    size: Option<Size>,
    horizontal: Option<Horizontal>,
    vertical: Option<Vertical>,
}

/// FNV-1a: a stable hash, so the fallback noun of a text never changes between builds.
pub fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Reads a caption into a scene; never fails.
pub fn parse(text: &str) -> Scene {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|word| !word.is_empty())
        .collect();
    let mut scene = Scene {
        objects: Vec::new(),
        background: None,
        style: None,
    };
    let mut pending = Pending::default();
    for (index, &word) in words.iter().enumerate() {
        // "orange", "lime", "chocolate"…: a colour when a noun follows, else the thing itself.
        let colour_before_noun = Colour::from_word(word).is_some()
            && words
                .get(index + 1)
                .is_some_and(|next| noun_of(next).is_some());
        if let Some(((noun, family, typical), was_plural)) =
            noun_of(word).filter(|_| !colour_before_noun)
        {
            let count = match pending.count {
                Some(count) if !(was_plural && count == 1) => count,
                _ if was_plural => 2,
                _ => 1,
            };
            if scene.objects.len() < MAX_OBJECTS {
                scene.objects.push(SceneObject {
                    noun,
                    family,
                    colour: pending.colour.unwrap_or(typical),
                    count: count.min(MAX_COUNT),
                    size: pending.size,
                    horizontal: pending.horizontal,
                    vertical: pending.vertical,
                });
            }
            pending = Pending::default();
        } else if let Some(background) = Background::from_word(word) {
            scene.background.get_or_insert(background);
        } else if let Some(style) = Style::from_word(word) {
            scene.style.get_or_insert(style);
        } else if let Some(colour) = Colour::from_word(word) {
            pending.colour = Some(colour);
        } else if let Some(count) = count_of(word) {
            pending.count = Some(count);
        } else if let Some(size) = Size::from_word(word) {
            pending.size = Some(size);
        } else {
            // Positions usually follow their noun ("a cat on the left"); else they wait for one.
            let last = scene.objects.last_mut();
            match word {
                "left" => place_horizontal(last, &mut pending, Horizontal::Left),
                "right" => place_horizontal(last, &mut pending, Horizontal::Right),
                "top" | "above" | "upper" => place_vertical(last, &mut pending, Vertical::Top),
                "bottom" | "below" | "lower" | "foreground" => {
                    place_vertical(last, &mut pending, Vertical::Bottom)
                }
                _ => {}
            }
        }
    }
    if scene.objects.is_empty() {
        let all: Vec<_> = nouns().collect();
        let (noun, family, typical) = all[(stable_hash(&lower) % all.len() as u64) as usize];
        scene.objects.push(SceneObject {
            noun,
            family,
            colour: pending.colour.unwrap_or(typical),
            count: pending.count.unwrap_or(1).min(MAX_COUNT),
            size: pending.size,
            horizontal: pending.horizontal,
            vertical: pending.vertical,
        });
    }
    scene
}

fn place_horizontal(last: Option<&mut SceneObject>, pending: &mut Pending, value: Horizontal) {
    match last {
        Some(object) if object.horizontal.is_none() => object.horizontal = Some(value),
        _ => pending.horizontal = Some(value),
    }
}

fn place_vertical(last: Option<&mut SceneObject>, pending: &mut Pending, value: Vertical) {
    match last {
        Some(object) if object.vertical.is_none() => object.vertical = Some(value),
        _ => pending.vertical = Some(value),
    }
}

extends Control
## Asks the horde for a picture and a caption for it, and shows both.
## Set HORDE_URL and HORDE_KEY to use a private horde (`horde serve`);
## without them the public horde is asked, anonymously.

@onready var horde: HordeNode = $Horde
@onready var picture: TextureRect = $Picture
@onready var story: Label = $Story


func _ready() -> void:
	var url := OS.get_environment("HORDE_URL")
	if url != "":
		horde.base_url = url
		horde.api_key = OS.get_environment("HORDE_KEY")
	horde.image_generated.connect(_on_image_generated)
	horde.text_generated.connect(_on_text_generated)
	horde.request_progress.connect(_on_progress)
	horde.request_failed.connect(_on_failed)

	var params := HordeImageParams.new()
	params.width = 512
	params.height = 512
	params.steps = 20
	horde.generate_image("a lighthouse on a cliff at dusk, oil painting", params)
	var text_params := HordeTextParams.new()
	text_params.max_length = 60
	horde.generate_text("Write one line about a lighthouse keeper:", text_params)

	var user: Dictionary = await horde.fetch_user()
	if not user.is_empty():
		print("asking as %s with %s kudos" % [user["username"], user["kudos"]])


func _on_image_generated(_id: int, texture: ImageTexture, info: HordeResultInfo) -> void:
	picture.texture = texture
	print("image by %s with %s, seed %s" % [info.worker, info.model, info.seed])
	info.save_png("user://lighthouse.png")


func _on_text_generated(_id: int, text: String, _info: HordeResultInfo) -> void:
	story.text = text


func _on_progress(_id: int, finished: int, processing: int, waiting: int) -> void:
	if story.text.begins_with("Asking"):
		story.text = "Asking the horde… %d done, %d in the works, %d waiting" % [
			finished, processing, waiting
		]


func _on_failed(_id: int, rc: String, message: String) -> void:
	story.text = "The horde said no: %s (%s)" % [message, rc]

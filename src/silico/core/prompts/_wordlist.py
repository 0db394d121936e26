"""Compact English vocabularies for the rule-based backstory critic.

Written by hand (no download): about 2,700 common English words, chosen for
everyday first-person talk about a life (family, places, school, work, health,
faith, leisure), plus the function words that make up roughly half of any
English sentence. Regular inflections (``-s``, ``-ed``, ``-ing``, ``-er``,
``-ly``, ...) are recognised by :func:`silico.core.prompts._quality.is_known_word`,
so only base forms and irregular forms are listed.
"""

from __future__ import annotations

#: The most frequent English function words (pronouns, articles, prepositions,
#: auxiliaries, conjunctions, common adverbs). English prose is 40-60 % these.
FUNCTION_WORDS = frozenset(
    """
    a an the and or but nor so yet if then than because while when where whether
    though although unless until since as like of to in on at for with from by about
    into onto over under after before during through between against among around
    without within along across behind above below up down out off near
    i me my mine myself we us our ours ourselves you your yours yourself
    he him his himself she her hers herself it its itself they them their theirs
    themselves this that these those who whom whose which what how why
    is am are was were be been being have has had having do does did done
    will would shall should can could may might must not no nor
    all any some each every both either neither other another such own same
    there here just very too also only even still now again ever never always
    much many more most few less least one two
    get got go went gone
    """.split()
)

_EVERYDAY = frozenset(
    """
    able about above accept accident across act action active actually add address
    admit adult afraid after afternoon again age ago agree ahead air alive allow
    almost alone along already alright amazing amount angry animal another answer
    anxiety anybody anymore anyone anything anyway anywhere apart apartment appear
    apply appreciate area argue arm army around arrive art ask asleep attend attention
    aunt average avoid awake away awful baby back bad bag bake ball band bank bar
    barely base basic basketball bath bathroom be bear beat beautiful became become
    bed bedroom beer began begin beginning behind believe belong benefit beside best
    better big bike bill bird birth birthday bit bite black blame blessing blind block
    blood blue board boat body book boot border bored boring born borrow boss bother
    bottom bought box boy boyfriend brain brand bread break breakfast breath breathe
    bright bring broke broken brother brought brown budget build building built burn
    bus business busy buy cabin call calm came camp campus can cancer candy cannot
    car card care career careful carry case cash cat catch caught cause celebrate
    center certain chair chance change charge cheap check cheese chicken child
    childhood children choice choir choose chose chosen church city class classroom
    clean clear clerk climb clinic close clothes cloud club coach coast coat coffee
    cold college color come comfortable common community company compare complain
    complete computer concern condition consider contact continue control cook cool
    copy corner cost couch could count country county couple course court cousin
    cover cow crazy create credit crime cross crowd cry culture cup current customer
    cut dad daddy daily damage dance danger dark date daughter day dead deal dear
    death debt decide decision deep degree deliver dentist department depend
    depression describe deserve design desk despite detail develop diabetes die
    diet difference different difficult dinner direction dirt dirty disability
    discover discuss disease distance district divorce divorced doctor dog dollar
    door double doubt downtown draw drank dream dress drink drive driven driver
    drop drove drug dry due during duty each ear early earn earth easy eat eaten
    economy edge education effort egg eight eighteen eighty either elderly election
    electric else email emergency employ empty end enemy energy engine engineer
    enjoy enough enter entire environment equal escape especially even evening event
    eventually ever every everybody everyday everyone everything everywhere exactly
    example except excited exercise expect expensive experience explain extra eye
    face fact factory fail fair faith fall family famous fan far farm farmer fast
    fat father fault favorite fear feed feel feeling feet fell felt female few field
    fifteen fifty fight figure fill final finally find fine finger finish fire
    first fish fit five fix flat flight floor flower fly focus folk follow food
    foot football force foreign forest forever forget forgive forgot forgotten form
    former forth forty forward foster found four fourteen free freedom fresh friend
    friendly front fruit full fun funny future gain game garage garden gas gave
    general generation gentle get gift girl girlfriend give given glad glass god
    golf good government grade graduate grand grandchild grandchildren granddaughter
    grandfather grandkid grandma grandmother grandpa grandparent grandson grass
    grateful great green grew ground group grow grown guess guest guitar gun guy
    hair half hall hand handle hang happen happy hard hardly hate head health healthy
    hear heard heart heat heavy held hell hello help helpful high highway hill hire
    history hit hobby hold holiday home homework honest hope horse hospital hot
    hotel hour house household huge human humor hundred hunt hunting hurt husband
    ice idea ill illness imagine immigrant important improve inch include income
    indeed insurance interest interesting internet interview invite involve island
    issue item jail job join joke judge jump junior keep kept kick kid kill kind
    kitchen knee knew know knowledge known lady lake land language large last late
    later laugh law lawyer lay lazy lead learn learned least leave led left leg
    lesson let letter level library lie life light likely limit line list listen
    little live living load loan local lock lonely long look lose loss lost lot loud
    love lovely low luck lucky lunch mad made mail main major make male mall man
    manage manager many market marriage married marry mass matter maybe meal mean
    meant measure meat medical medicine meet meeting member memory mental mention
    mess met middle might mile military milk mind minute miss mistake mom mommy
    moment money month mood morning mother mountain mouth move movie mr mrs ms mum
    music name nation national nature near nearly neat necessary neck need neighbor
    neighborhood nephew nervous net never new news newspaper next nice niece night
    nine nineteen ninety nobody noise none normal north nose note nothing notice
    number nurse object obviously ocean odd offer office officer often oh oil okay
    ok old older once online open opinion opportunity order ordinary organize
    original others otherwise outside owe own owner pack page pain paint pair paper
    parent park part partner party pass past path patient pay peace people percent
    perfect perhaps period person personal pet phone photo pick picture piece place
    plan plane plant play player please pleasure plenty pocket point police
    political politics pool poor popular position possible post pound power practice
    pray prayer prefer pregnant prepare present president pressure pretty price
    pride priest prison private probably problem program promise proud provide
    public pull punish purpose push put quality question quick quiet quit quite
    race radio rain raise ran rather reach read ready real realize really reason
    receive recent recently record recover red relationship relative religion
    religious remember rent repair reply report respect responsible rest restaurant
    result retire retired return rich ride right ring rise risk river road rock role
    room rough round rule run rural sad safe said sale salt same save saw say scared
    schedule school science score sea season seat second secret see seem seen sell
    send senior sense sent serious serve service set settle seven seventeen seventy
    several sex shall shape share sharp sheet shift shine ship shirt shoe shoot shop
    shopping short shot should shoulder shout show shower shut shy sick side sign
    simple simply sing single sir sister sit site situation six sixteen sixty size
    skill skin sky sleep slow small smart smell smile smoke snow so soccer social
    society soft soldier some somebody someday somehow someone something sometimes
    somewhere son song soon sorry sort soul sound south space speak special speech
    spend spent spirit sport spot spring staff stage stand star start state station
    stay steal step stick still stomach stone stood stop store story straight
    strange street stress strict strong struggle student study stuff stupid style
    subject suburb succeed success sudden suddenly suffer sugar suggest summer sun
    sunday support suppose sure surgery surprise survive sweet swim system table
    take taken talk tall tax tea teach teacher team tear technology teen teenager
    telephone television tell temple ten tend term terrible test thank thanks
    theater thing think third thirteen thirty thought thousand threat three threw
    throat throw ticket tie till time tiny tire tired title today together told
    tomorrow tone tonight took tooth top total touch tough tour toward town toy
    track trade tradition traffic train training travel treat tree trip trouble
    truck true trust truth try turn twelve twenty twice type uncle understand
    understood union unit university unless unlike upon upset use used useful usual
    usually vacation valley value various vet veteran victim view village visit
    voice volunteer vote wage wait wake walk wall want war warm wash waste watch
    water way weak wealth wear weather wedding week weekend weigh weight welcome well
    west wet whatever wheel whenever wherever white whole wide widow wife wild win
    wind window wine winter wise wish woman women won wonder wonderful wood word
    wore work worker world worry worse worst worth would wound write written wrong
    wrote yard yeah year yell yellow yes yesterday young younger youth zero
    """.split()
)

# more life-story vocabulary: occupations, places, school, health, leisure
_LIFE = frozenset(
    """
    accountant acre actor administrator adopt adopted advice afford agency
    agriculture aide airline airport alcohol allergy ambulance apprentice
    architect assistant associate athlete attorney auto bachelor bakery baker
    baptist barber bartender baseball bay beach bible bill biology blanket bowling
    brass breakfast brick bride brisket buddy bullied bully cabinet cafeteria
    camping cancer candidate carpenter cashier catholic cattle cemetery
    certificate champion chef chemistry chemo chores christian christmas citizen
    citizenship civil clergy climbing coal coast collar comic commute commuter
    conservative construction contractor cop corn cottage counselor countryside
    courthouse coworker crew crop custody custodian dairy daycare deacon
    delivery democrat democratic deploy deployed desert diner diploma disabled
    dispatcher diploma downtown drought drunk economics elementary electrician
    employee employer engineering enlist enlisted episcopal ethnic evangelical
    faculty fiancé fiance finance firefighter fisherman fishing flood football
    foreman forklift freshman funeral gardening gay generous god golfer gospel
    graduation grandbaby granny groceries grocery guard gym hairdresser harvest
    headquarters heritage hiking hometown homeless homeschool honestly hospice
    hunter hurricane husband immigrate immigration independent industry injury
    inner insurance intern jewish journalism junior kindergarten labor laborer
    landlord laundry lawn layoff liberal librarian license lineman loan locker
    loyal lutheran mailman marathon marine mechanic medicaid medicare mentor
    methodist middle midwest mill mine miner minister mission mobile mortgage
    mosque motorcycle muslim nanny navy neighborhood nonprofit nursing occupation
    orchard orphan outdoors overtime paycheck pastor patrol payroll pension
    pharmacist pharmacy physician pickup pilot pipeline plumber pollution
    pregnancy prairie preacher presbyterian principal professor protestant psychology
    quarterback railroad rancher ranch realtor recession recovery refinery refugee
    rehab reservation resident retail retiree retirement reunion roommate rural
    sailor salon scholarship seminary semester sergeant shelter sheriff shipyard
    shop sibling sobriety sophomore southern speaker spouse stepdad stepfather
    stepmom stepmother stepson stepdaughter steward stroke suburban suburbs sunday
    superintendent supervisor surgeon tavern technician teller tenant therapist
    therapy township tractor trailer trucker tuition tutor unemployed unemployment
    upbringing veterinarian vineyard waiter waitress warehouse welder welding
    wheat widowed widower workshop wrestling
    """.split()
)

# general vocabulary that everyday talk needs
_GENERAL = frozenset(
    """
    ability absolutely abuse academic access accomplish according account
    achieve acting activity actual addiction additional adventure advance
    advantage affect afterward afterwards agent ahead aim alcohol alive ambition
    amazing american among ancient anger announce annual anxious apart apology
    appearance approach approve argument arrange arrest aside aspect attack
    attempt attitude attract audience author available award aware awareness
    background balance bare battle beauty bedtime behavior belief bend beyond
    billion bitter blow bond bone bonus border bottle bound bowl brave breast
    breath brief brilliant broad burden burst calendar campaign cancel capable
    capital captain career careful cattle ceiling ceremony chain challenge champion
    channel chapter character charity cheat chest chief chip chocolate chore
    christmas circle citizen civil claim classic climate coffee collect collection
    colleague combine comedy comfort command comment commercial commit commitment
    committee communicate competition complex concert conference confidence
    confident conflict confused connect connection conscious consequence constant
    construct content contest context contract contribute conversation convince
    cotton council counsel courage cousin craft crash cream crisis critic crop
    cruel cultural curious customer cycle dairy dangerous database deadline
    decade declare decline decrease dedicate defend defense define definitely
    delay delight demand deny deposit depressed desire destroy determine
    devote dialogue diet digital dinner direct disagree disappear disappoint
    discipline display distant diverse document domestic dominate dozen draft
    drama dramatic drawing drill dust eager earnings ease east eastern economic
    edit editor educate effect effective efficient elect electricity element
    elevator eleven embarrass emotion emotional emphasis empire employment
    encourage engage engaged enormous ensure entertainment enthusiasm entry
    episode era essay essential establish estate estimate ethnic evaluate evidence
    evil exact exam examine excellent exchange excite exciting excuse executive
    exist existence expand expectation expense expert explore express extend
    extreme fabulous facility factor fairly faithful false fame familiar fancy
    fantastic fashion fate favor feature federal fee fellow female fence festival
    fever fiction fifth fighter file film finance financial firm fitness flag
    flavor flexible flour fluid folks fond foreign former fortune foundation
    fourth frame frankly freeze frequent friday friendship frozen fuel function
    fund funeral furniture gallery gang gap gather gear gender generous genius
    gentleman giant glory goal golden gone goodbye govern grab grace grain grand
    grant grateful grave gray greatest grief grill grocery growth guarantee
    guard guidance guide guilty habit hallway happiness harbor harm hat
    headache heal hearing heaven height helicopter hero hesitate hidden hide
    highly hip hire historic hobby holy honest honor horrible host household
    housing humble hunger hungry hurricane husband identity ignore image
    immediate immediately impact impossible impress impression incident increase
    independence independent indian individual industrial infant influence inform
    information initial injure injury inner innocent inside insist inspire
    instance instead institution instruction instrument intelligent intend
    intense interested international involved iron jacket jeans jewelry joint
    journey joy justice kick kindness king kiss knife knock label lack ladder
    landscape lane laptop largely laundry lawn layer leader leadership leaf league
    lean least lecture legal legend lend length liberty license lifestyle lift
    likely lip liquid literally literature load location lonely loose lord lucky
    luxury machine mad magazine magic mainly maintain majority makeup manner map
    march margin mark marketing mass master match mate material math maximum meal
    meaning meanwhile medium membership mental mess message metal method mile
    mind mine minimum minister minor minority miracle mirror mission mix model
    modern modest monday monitor moral mostly motion motivate motor mount mouse
    muscle museum musical mystery narrow native naturally navy negative neither
    nerve network newly nod none nonetheless nor northern notebook novel nowhere
    nuclear numerous nut obey observe obtain obvious occasion occasionally occupy
    occur odds offense official ongoing onion operate operation opposite option
    orange organization origin outcome outdoor oven overall overcome overseas
    package painful palace pale pan panic pants parade parking participate
    particular particularly partly passion passionate patience pattern pause peak
    penny pepper perform performance permanent permit personality perspective
    phase philosophy phrase physical piano pie pile pilot pink pitch plain planet
    plastic plate platform pleased plus poem poet poetry poison pole policy polite
    pop population porch portion positive possibly pot potato poverty powerful
    praise precious pregnant preparation presence preserve press prevent previous
    pride primary prime prince princess principle print prior priority prize
    procedure process produce product production profession professional profile
    profit progress project proper property proposal protect protection protest
    prove province psychological pure purple pursue puzzle queen quote rabbit
    racial racism rank rapid rare rarely rate raw react reaction reader reality
    reasonable rebuild recall recipe recognize recommend reduce reflect reform
    refuse regard region regret regular regularly reject relate relax release
    relief relieve rely remain remarkable remind remote remove replace represent
    request require rescue research reserve resist resource respond response
    restore retain reveal revenge review reward rhythm rice ride ridiculous rifle
    rival roll romance romantic roof root rope rose route routine row royal rub
    ruin rush sacred sacrifice sail salad salary sand sandwich satisfy saturday
    sauce scale scene scholar scream screen script search secure security seed
    seek select self senate senator sensitive separate sequence series session
    setting settlement severe sexual shade shadow shake shame shelf shell shelter
    shield shock shore significant silence silent silly silver similar sin
    sink skirt sleeve slide slight slightly slip smooth snack soap soil solar
    solid solution solve somewhat soup source southern spare species specific
    spell spin split spread square squeeze stable stack stadium stake standard
    stare statement status steady steel stock storm stove strategy straw stream
    strength stretch strike string strip stroke structure studio stuck submit
    substance suit suitcase sum super supply surface surround survey suspect
    swear sweat sweep swing symbol sympathy talent tape target task taste teaching
    tear technique teeth temperature tennis tension tent terms territory
    terror text thick thin thirsty thoroughly threaten thursday tight tip tissue
    toilet tomato tongue tool topic tough towel tower trail transfer transform
    transition translate transport trap trash treatment trend trial tribe trick
    troop tropical truly tube tuesday tunnel twin typical typically ugly ultimate
    unable uncomfortable underground unfortunately unhappy uniform unique unit
    universe unknown upper upstairs urban urge urgent user vacuum valuable van
    vast vegetable vehicle version vessel victory video violence violent virtue
    visible vision visitor vital volume vulnerable wagon waist wallet wander
    warning wave weapon web website wednesday weird wheat whisper whoever wing
    winner wipe wire wisdom witness wolf wooden wool worried worship wrap yearly
    yell yet yield yoga zone
    """.split()
)

# spoken-style words, numbers, months, days
_SPOKEN = frozenset(
    """
    ain't y'all gonna wanna gotta kinda sorta um uh hmm hey hi yep nope yup
    ma'am okay lol twenties thirties forties fifties sixties seventies eighties
    nineties teens hundreds thousands million eleven twelve
    january february march april may june july august september october november
    december monday tuesday wednesday thursday friday saturday sunday
    mr mrs dr st
    """.split()
)

#: Common English words (base forms and irregular forms), function words included.
COMMON_WORDS = FUNCTION_WORDS | _EVERYDAY | _LIFE | _GENERAL | _SPOKEN
